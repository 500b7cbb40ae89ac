"""Warehouse callbacks and returns (DESIGN.md section 3): what a warehouse
event does to its order. Pure: the service layer loads, applies the stock
effect and commits.

- `ReleaseCompleted`: Released -> Closed; the reservation is consumed.
- `ReleaseRejected`: Released / Allocated -> Draft with the reason; the
  reservation goes back.
- `ReturnReceived`: Closed / PartiallyReturned -> PartiallyReturned or
  FullyReturned. Delivered is the order's lines; returned so far is
  `Order.returned`; several partial returns add up to a full one, and
  returning more than was delivered (or a SKU the order does not hold) is
  refused. The returned units go back on hand, and the return policy maps the
  reason to a follow-up order in Draft whose parent is the returned order.

An event for an order that is not there yet but on its way (a completion
while the order is Allocated) waits on the order (`Order.held_events`);
anything else the order cannot take is refused with its reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from common.domain.delta import Outcome, StreamState, has_quantities, lines_beyond, new_order
from common.domain.events import OrderEventType
from common.domain.history import Effect, evolve, record
from common.domain.lifecycle import Action, allows, transition
from common.domain.models import (
    Actor,
    ActorType,
    Change,
    HeldEvent,
    LineSource,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    Project,
    Reason,
)
from common.domain.warehouse_inbound import (
    OrderEvent,
    ReleaseCompleted,
    ReleaseRejected,
    ReturnItem,
    ReturnReceived,
    WarehouseEventType,
    adjustment_id,
)

S = OrderStatus
WAREHOUSE = Actor(type=ActorType.EXTERNAL, id="warehouse")


class FollowUp(StrEnum):
    """What a return leads to (CONTRACT.md: the return follow-up policy)."""

    DELTA = "delta"  # a delta order with the returned lines to replace
    NEW_ORDER = "new_order"  # a completely new order from the stream's latest design
    NONE = "none"


ACTION_OF: dict[WarehouseEventType, Action] = {
    WarehouseEventType.RELEASE_COMPLETED: Action.COMPLETE,
    WarehouseEventType.RELEASE_REJECTED: Action.WAREHOUSE_REJECT,
    WarehouseEventType.RETURN_RECEIVED: Action.RETURN,
}

# Statuses from which the order's normal path still leads to one that can
# take the event: the event arrived early (out of order) and waits.
ON_ITS_WAY: dict[Action, frozenset[OrderStatus]] = {
    Action.COMPLETE: frozenset({S.APPROVED, S.ALLOCATED}),
    Action.WAREHOUSE_REJECT: frozenset({S.APPROVED}),
    Action.RETURN: frozenset({S.APPROVED, S.ALLOCATED, S.RELEASED}),
}


class Readiness(StrEnum):
    READY = "ready"
    WAIT = "wait"
    IMPOSSIBLE = "impossible"


@dataclass(frozen=True)
class Restock:
    """Returned units going back on hand, once per `adjustment_id`."""

    warehouse_id: str
    sku: str
    qty: int
    adjustment_id: str


@dataclass(frozen=True)
class StockEffect:
    """The inventory side of a decision (a different container than the
    order, so the service layer applies it before committing the order)."""

    consume: str | None = None  # order whose reservation the warehouse shipped
    release: str | None = None  # order whose reservation goes back
    restock: tuple[Restock, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.consume is None and self.release is None and not self.restock


@dataclass
class WarehouseDecision:
    """What one warehouse event does to its order: applied (effects and a
    stock effect), held (an effect that keeps the event on the order), or
    refused (`problems`, nothing changes)."""

    outcome: Outcome
    order_id: str | None
    notes: list[str] = field(default_factory=list)
    problems: list[Reason] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    stock: StockEffect = field(default_factory=StockEffect)
    stream_changed: bool = False
    follow_up_order_id: str | None = None

    @property
    def refused(self) -> bool:
        return self.outcome == Outcome.QUARANTINED


def refuse(order_id: str | None, *problems: Reason) -> WarehouseDecision:
    return WarehouseDecision(Outcome.QUARANTINED, order_id, problems=list(problems))


# ------------------------------------------------------------------ returns

def delivered(order: Order) -> dict[str, int]:
    """Everything the order delivered: its lines, and what it delivered before
    a review re-ordered them (see `reopened`)."""
    total = dict(order.delivered_before)
    for sku, qty in order.quantities().items():
        total[sku] = total.get(sku, 0) + qty
    return total


def reopened(order: Order) -> dict[str, Any]:
    """The changes a review makes when it sends a returned order back to Draft:
    what the order delivered so far is kept aside, so what stayed on site still
    counts for the stream and may still be returned; the lines become what the
    order orders again."""
    if order.status not in (S.PARTIALLY_RETURNED, S.FULLY_RETURNED):
        return {}
    return {"delivered_before": delivered(order)}


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
    return problems


def returned_after(order: Order, items: list[ReturnItem]) -> dict[str, int]:
    total = dict(order.returned)
    for item in items:
        total[item.sku] = total.get(item.sku, 0) + item.qty
    return total


def return_status(order: Order, returned: Mapping[str, int]) -> OrderStatus:
    full = all(returned.get(sku, 0) >= qty for sku, qty in delivered(order).items())
    return S.FULLY_RETURNED if full else S.PARTIALLY_RETURNED


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


# -------------------------------------------------------------- readiness

def readiness(order: Order, event: OrderEvent) -> tuple[Readiness, str]:
    action = ACTION_OF[event.event_type]
    if allows(order.status, action):
        return Readiness.READY, ""
    if order.status in ON_ITS_WAY[action]:
        return Readiness.WAIT, (f"{event.event_type.value} for order {order.order_id} in status "
                                f"{order.status.value} waits until the order can take it")
    if action == Action.RETURN and order.status == S.FULLY_RETURNED:
        return Readiness.IMPOSSIBLE, f"order {order.order_id} is fully returned: nothing is left to return"
    return Readiness.IMPOSSIBLE, f"cannot {action.value} an order in status {order.status.value}"


def hold(order: Order, event: OrderEvent, *, why: str, at: datetime, actor: Actor) -> Effect:
    """Keep an early event on its order, written atomically with the order."""
    held = HeldEvent(event_id=event.event_id, event_type=event.event_type.value,
                     payload=event.model_dump(mode="json"), held_at=at, reason=why, actor=actor)
    after = evolve(order, at, held_events=[*order.held_events, held])
    effect = record(order, after, action="warehouse_event_held", actor=actor, at=at, event=None,
                    reason=why, correlation_id=event.event_id)
    effect.audit.changes.append(Change(path="held_events", old=None, new=event.event_id))
    return effect


def unhold(order: Order, event_id: str) -> Order:
    """`order` without the held event `event_id`, as a base for the next write
    (same version: the write that takes the event out bumps it)."""
    return order.model_copy(update={"held_events": [h for h in order.held_events if h.event_id != event_id]})


def drop_held(order: Order, held: HeldEvent, *, why: str, at: datetime, actor: Actor) -> Effect:
    """Take a held event off its order (it was quarantined)."""
    after = evolve(unhold(order, held.event_id), at)
    effect = record(order, after, action="warehouse_event_quarantined", actor=actor, at=at, event=None,
                    reason=why, correlation_id=held.event_id)
    effect.audit.changes.append(Change(path="held_events", old=held.event_id, new=None))
    return effect


# ---------------------------------------------------------------- decisions

def complete_release(order: Order, event: ReleaseCompleted, *, at: datetime, actor: Actor) -> WarehouseDecision:
    after = evolve(order, at, status=transition(order.status, Action.COMPLETE), last_changed_by=actor.id)
    effect = record(order, after, action=Action.COMPLETE.value, actor=actor, at=at, event=OrderEventType.CLOSED,
                    correlation_id=event.event_id)
    return WarehouseDecision(Outcome.APPLIED, order.order_id, effects=[effect],
                             stock=StockEffect(consume=order.order_id))


def reject_release(order: Order, event: ReleaseRejected, *, at: datetime, actor: Actor) -> WarehouseDecision:
    after = evolve(order, at, status=transition(order.status, Action.WAREHOUSE_REJECT), rejection_reason=event.reason,
                   approved_at=None, approved_by=None, short_runs=0, last_changed_by=actor.id)
    effect = record(order, after, action=Action.WAREHOUSE_REJECT.value, actor=actor, at=at,
                    event=OrderEventType.REJECTED, reason=event.reason, correlation_id=event.event_id)
    return WarehouseDecision(Outcome.APPLIED, order.order_id, effects=[effect],
                             stock=StockEffect(release=order.order_id))


def _project_of_order(order: Order) -> Project:
    """Stand-in master data for a follow-up when the project is gone from
    the master: the returned order's own fields."""
    return Project(project_id=order.project_id, site_code=order.site_code, market=order.market,
                   project_status="Unknown", milestone="Unknown", plan_type=order.plan_type,
                   national_priority=order.national_priority or 5, gated=order.gated,
                   warehouse_id=order.warehouse_id)


def _follow_up(state: StreamState, order: Order, event: ReturnReceived, choice: FollowUp, project: Project | None,
               at: datetime, actor: Actor) -> tuple[Effect | None, str]:
    stream = state.stream
    if choice == FollowUp.NONE:
        return None, f"the return policy asks no follow-up for {event.reason}"
    uom = {line.sku: line.uom for line in order.lines}
    if choice == FollowUp.DELTA:
        kind = OrderKind.DELTA
        lines = [OrderLine(line_no=n, sku=item.sku, qty=item.qty, uom=uom.get(item.sku, "EA"), source=LineSource.RETURN)
                 for n, item in enumerate(event.items, start=1)]
        design_version = order.design_version or stream.design_version or 1
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
        design_version = stream.design_version or order.design_version or 1
    # Ids are `<stream>~<seq>`: the next sequence number must be past every
    # order the stream has, even one its document does not list.
    stream.next_seq = max(stream.next_seq, order.seq + 1)
    effect = new_order(state, kind=kind, parent=order, lines=lines, project=project or _project_of_order(order),
                       design_version=design_version, at=at, actor=actor, correlation_id=event.event_id)
    effect.audit.reason = f"follow-up ({choice.value}) of the {event.reason} return of order {order.order_id}"
    return effect, f"follow-up {choice.value} order {effect.order.order_id} created in Draft"


def receive_return(state: StreamState, order: Order, event: ReturnReceived, *, policy: Mapping[str, str],
                   project: Project | None, at: datetime, actor: Actor) -> WarehouseDecision:
    choice = follow_up_of(event.reason, policy)
    if isinstance(choice, Reason):
        return refuse(order.order_id, choice)
    problems = return_problems(order, list(event.items))
    if order.warehouse_id is None:
        problems.append(Reason(loc=["order_id"], msg=f"order {order.order_id} has no warehouse to return to",
                               type="no_warehouse"))
    if problems:
        return refuse(order.order_id, *problems)
    assert order.warehouse_id is not None
    returned = returned_after(order, list(event.items))
    after = evolve(order, at, status=transition(order.status, Action.RETURN, return_status(order, returned)),
                   returned=returned, last_changed_by=actor.id)
    state.orders[order.order_id] = after  # the follow-up sees the stream with this return
    follow, note = _follow_up(state, order, event, choice, project, at, actor)
    effect = record(order, after, action=Action.RETURN.value, actor=actor, at=at, event=OrderEventType.RETURNED,
                    reason=event.reason, correlation_id=event.event_id,
                    returned_items={item.sku: item.qty for item in event.items}, returned_total=returned,
                    return_reason=event.reason, follow_up_order_id=follow.order.order_id if follow else None)
    effect.audit.changes.extend(
        Change(path=f"returned.{sku}", old=order.returned.get(sku, 0), new=qty)
        for sku, qty in sorted(returned.items()) if qty != order.returned.get(sku, 0))
    restock = tuple(Restock(order.warehouse_id, item.sku, item.qty, adjustment_id("return", event.event_id, item.sku))
                    for item in event.items)
    return WarehouseDecision(Outcome.APPLIED, order.order_id, notes=[note],
                             effects=[effect, *([follow] if follow else [])], stock=StockEffect(restock=restock),
                             stream_changed=follow is not None,
                             follow_up_order_id=follow.order.order_id if follow else None)


def decide_order_event(state: StreamState, order: Order, event: OrderEvent, *, policy: Mapping[str, str],
                       project: Project | None, at: datetime, actor: Actor = WAREHOUSE,
                       may_hold: bool = True) -> WarehouseDecision:
    """What `event` does to `order` (the order as it is now, `state` its stream)."""
    if isinstance(event, ReturnReceived):
        choice = follow_up_of(event.reason, policy)
        if isinstance(choice, Reason):  # no order status makes an unknown reason valid: refuse now
            return refuse(order.order_id, choice)
    ready, why = readiness(order, event)
    if ready == Readiness.WAIT and may_hold:
        return WarehouseDecision(Outcome.PARKED, order.order_id, notes=[why],
                                 effects=[hold(order, event, why=why, at=at, actor=actor)])
    if ready == Readiness.WAIT:
        return WarehouseDecision(Outcome.PARKED, order.order_id, notes=[why])
    if ready == Readiness.IMPOSSIBLE:
        return refuse(order.order_id, Reason(loc=["event_type"], msg=why, type="illegal_transition"))
    if isinstance(event, ReleaseCompleted):
        return complete_release(order, event, at=at, actor=actor)
    if isinstance(event, ReleaseRejected):
        return reject_release(order, event, at=at, actor=actor)
    return receive_return(state, order, event, policy=policy, project=project, at=at, actor=actor)
