"""Returns (DESIGN.md section 3, "Warehouse callbacks and returns"): what may
come back from an order, and what a return leads to.

Delivered is what the order delivered (its lines once Closed, and what it
delivered before a review); returned so far is `Order.returned`; several
partial returns add up to a full one, and returning more than is left (or a
SKU the order never delivered) is refused. The return policy maps the reason
to a follow-up order in Draft whose parent is the returned order: a delta
order with the returned lines to replace, a new order from the stream's
latest design beyond what the stream still holds, or none.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from common.domain.delta import StreamState, has_quantities, lines_beyond, new_order
from common.domain.effects import Effect
from common.domain.models import Actor, LineSource, Order, OrderKind, OrderLine, Project, Reason
from common.domain.orders import delivered
from common.domain.warehouse_inbound import ReturnItem, ReturnReceived


class FollowUp(StrEnum):
    """What a return leads to (CONTRACT.md: the return follow-up policy)."""

    DELTA = "delta"  # a delta order with the returned lines to replace
    NEW_ORDER = "new_order"  # a completely new order from the stream's latest design
    NONE = "none"


def returnable(order: Order) -> dict[str, int]:
    """Per SKU: delivered less returned so far."""
    return {sku: qty - order.returned.get(sku, 0) for sku, qty in delivered(order).items()}


def return_problems(order: Order, items: list[ReturnItem]) -> list[Reason]:
    """Why `items` cannot come back from `order` (empty when they can)."""
    left = returnable(order)
    problems: list[Reason] = []
    for index, item in enumerate(items):
        if item.sku not in left:
            problems.append(Reason(loc=["items", index, "sku"],
                                   msg=f"SKU {item.sku} is not on order {order.order_id}", type="unknown_line"))
        elif item.qty > left[item.sku]:
            problems.append(Reason(
                loc=["items", index, "qty"],
                msg=(f"returning {item.qty} of {item.sku} is more than is left to return ({left[item.sku]}: "
                     f"{delivered(order)[item.sku]} delivered, {order.returned.get(item.sku, 0)} returned)"),
                type="over_return"))
    if order.warehouse_id is None:
        problems.append(Reason(loc=["order_id"], msg=f"order {order.order_id} has no warehouse to return to",
                               type="no_warehouse"))
    return problems


def follow_up_of(reason: str, policy: Mapping[str, str]) -> FollowUp | Reason:
    """The follow-up the policy maps `reason` to, or why it cannot."""
    choice = policy.get(reason)
    if choice is None:
        known = ", ".join(sorted(policy))
        return Reason(loc=["reason"], msg=f"return reason {reason} is not one of {known}", type="unknown_reason")
    try:
        return FollowUp(choice)
    except ValueError:
        return Reason(loc=["reason"], msg=f"the return policy maps {reason} to {choice}, which is not one of "
                                          f"{', '.join(f.value for f in FollowUp)}", type="bad_policy")


def _project_of_order(order: Order) -> Project:
    """Stand-in master data for a follow-up when the project is gone from
    the master: the returned order's own fields."""
    return Project(project_id=order.project_id, site_code=order.site_code, market=order.market,
                   project_status="Unknown", milestone="Unknown", plan_type=order.plan_type,
                   national_priority=order.national_priority or 5, gated=order.gated,
                   warehouse_id=order.warehouse_id)


def follow_up(state: StreamState, returned_order: Order, event: ReturnReceived, choice: FollowUp,
              project: Project | None, at: datetime, actor: Actor) -> tuple[Effect | None, str]:
    """The follow-up order of a return (None when there is none), and a note
    saying why. `state` holds `returned_order` as it is after the return."""
    stream = state.stream
    if choice == FollowUp.NONE:
        return None, f"the return policy asks no follow-up for {event.reason}"
    uom = {line.sku: line.uom for line in returned_order.lines}
    if choice == FollowUp.DELTA:
        kind = OrderKind.DELTA
        lines = [OrderLine(line_no=n, sku=item.sku, qty=item.qty, uom=uom.get(item.sku, "EA"), source=LineSource.RETURN)
                 for n, item in enumerate(event.items, start=1)]
        design_version = returned_order.design_version or stream.design_version or 1
    else:
        if not stream.design_items:
            return None, f"no follow-up order: stream {stream.stream_id} has no design to order from"
        # The same formula as the delta rules: the latest design beyond what the
        # stream still holds (delivered less returned, plus open orders such as an
        # earlier follow-up), so two returns never order the design twice.
        has = has_quantities(state.live())
        lines = lines_beyond(stream.design_items, has)
        if not lines:
            return None, "no follow-up order: the stream holds everything its latest design needs"
        kind = OrderKind.STANDARD if not any(q > 0 for q in has.values()) else OrderKind.SUPPLEMENTAL
        design_version = stream.design_version or returned_order.design_version or 1
    # Ids are `<stream>~<seq>`: the next sequence number must be past every
    # order the stream has, even one its document does not list.
    stream.next_seq = max(stream.next_seq, returned_order.seq + 1)
    effect = new_order(state, kind=kind, parent=returned_order, lines=lines,
                       project=project or _project_of_order(returned_order), design_version=design_version, at=at,
                       actor=actor, correlation_id=event.event_id,
                       reason=f"follow-up ({choice.value}) of the {event.reason} return of order "
                              f"{returned_order.order_id}")
    return effect, f"follow-up {choice.value} order {effect.order.order_id} created in Draft"
