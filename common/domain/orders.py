"""Every verb of an order, in one place (DESIGN.md section 3, States).

Each verb is a pure function: it takes the order as it is (and what the verb
needs to know), moves its status only through `lifecycle.transition` (an
illegal move raises `IllegalTransition` naming the current status), and
returns one `Effect`: the new order, its audit entry (the changed fields and
lines, old and new), its outbound event, and its stock effect. A reader
answers "what does approving change?" here; whether a verb is *allowed* (four
eyes, approval checks, allocation eligibility, clearance) is in
`eligibility.py`, and which verb an inbound event calls is decided in
`delta.py` (engineering) and `warehouse.py` (warehouse).

| verb | from | to | stock |
|---|---|---|---|
| create | - | Draft | |
| revise (newer design, master change) | Draft, Approved, Allocated | Draft | reservation back, after the write |
| edit, add_items | Draft, Approved, returned | Draft | |
| approve | Draft | Approved | |
| reject (approver review) | Approved, returned | Draft | |
| cancel | Draft | Cancelled | |
| allocate | Approved | Allocated | reserve, before the write |
| allocation_reject | Approved | Draft | |
| short | Approved | Approved (short_runs + 1) | |
| release | Allocated | Released | |
| complete | Released | Closed | reservation consumed, first |
| warehouse_reject | Released, Allocated | Draft | reservation back, first |
| receive_return | Closed, PartiallyReturned | Partially/FullyReturned | units back on hand, first |
| follow_master | Draft, Approved, Allocated | same (Draft for a new warehouse) | reservation back on a new warehouse |
| reschedule, flag_sla, hold_engineering, clear_engineering | any | same | |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from common.domain.bounds import ensure_lines_in_bounds
from common.domain.effects import NO_STOCK, Effect, Restock, StockEffect, evolve, record
from common.domain.events import OrderEventType
from common.domain.ids import order_id as make_order_id
from common.domain.ids import order_number
from common.domain.lifecycle import RETURNED, Action, transition
from common.domain.models import (
    Actor,
    Change,
    EngineeringHold,
    LineSource,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    Project,
    Reservation,
    Stream,
)

S = OrderStatus
OPEN = frozenset({S.DRAFT, S.APPROVED, S.ALLOCATED})
# What an open order takes from the project master (the master source).
MASTER_FIELDS = ("warehouse_id", "market", "national_priority", "gated", "plan_type")


def master_fields(project: Project) -> dict[str, Any]:
    return {"warehouse_id": project.warehouse_id, "market": project.market,
            "national_priority": project.national_priority, "gated": project.gated,
            "plan_type": project.plan_type}


def known_master_fields(project: Project) -> dict[str, Any]:
    """The master's values an order takes: a value the master does not give
    (None) does not clear what the order has."""
    return {k: v for k, v in master_fields(project).items() if v is not None}


def delivered(order: Order) -> dict[str, int]:
    """Everything the order delivered: what it delivered before a review
    re-ordered part of it, and its lines once it is Closed or returned."""
    total = dict(order.delivered_before)
    if order.status in (S.CLOSED, *RETURNED):
        for sku, qty in order.quantities().items():
            total[sku] = total.get(sku, 0) + qty
    return total


def on_site(order: Order) -> dict[str, int]:
    """Per SKU: delivered less returned (what stays on site)."""
    out: dict[str, int] = {}
    for sku, qty in delivered(order).items():
        left = qty - order.returned.get(sku, 0)
        if left:
            out[sku] = left
    return out


def manual_lines(order: Order) -> list[OrderLine]:
    return [line for line in order.lines if line.source == LineSource.MANUAL]


def numbered(lines: Sequence[OrderLine]) -> list[OrderLine]:
    return [line if line.line_no == n else line.model_copy(update={"line_no": n})
            for n, line in enumerate(lines, start=1)]


# -------------------------------------------------------------- engineering
def create(stream: Stream, *, kind: OrderKind, parent: Order | None, lines: list[OrderLine], project: Project,
           design_version: int, at: datetime, actor: Actor, correlation_id: str, reason: str | None = None) -> Effect:
    """A new order in Draft, the stream's next in sequence (the stream is
    updated in place: its next sequence number and its list of orders)."""
    ensure_lines_in_bounds(lines)
    key = stream.key
    seq = stream.next_seq
    order = Order(
        order_id=make_order_id(key, seq), order_number=order_number(key, seq), kind=kind,
        parent_order_id=parent.order_id if parent else None, project_id=key.project_id, site_code=key.site_code,
        order_type=key.order_type, seq=seq, status=S.DRAFT, design_version=design_version, lines=numbered(lines),
        need_by=stream.need_by, last_changed_by=actor.id, status_since=at, created_at=at, updated_at=at,
        **known_master_fields(project))
    stream.next_seq = seq + 1
    stream.order_ids = [*stream.order_ids, order.order_id]
    return record(None, order, action="create", actor=actor, at=at, event=OrderEventType.CREATED,
                  reason=reason, correlation_id=correlation_id)


def _release_if_allocated(order: Order) -> StockEffect:
    return StockEffect(release=order.order_id) if order.status == S.ALLOCATED else NO_STOCK


def revise(order: Order, *, lines: list[OrderLine], project: Project, need_by: Any, design_version: int,
           at: datetime, actor: Actor, correlation_id: str, reason: str) -> Effect:
    """A newer design recreates the order: back to Draft with the new lines
    and the current master data, next revision, approval cleared; an Allocated
    order's reservation goes back."""
    after = evolve(order, at, status=transition(order.status, Action.REVISE), lines=numbered(lines),
                   revision=order.revision + 1, design_version=design_version, rejection_reason=None,
                   approved_at=None, approved_by=None, **_unshort(), last_changed_by=actor.id, need_by=need_by,
                   **known_master_fields(project))
    return record(order, after, action=Action.REVISE.value, actor=actor, at=at, event=OrderEventType.REVISED,
                  reason=reason, correlation_id=correlation_id, stock=_release_if_allocated(order))


def cancel(order: Order, *, actor: Actor, at: datetime, reason: str | None = None,
           correlation_id: str | None = None, **changes: Any) -> Effect:
    after = evolve(order, at, status=transition(order.status, Action.CANCEL), last_changed_by=actor.id, **changes)
    return record(order, after, action=Action.CANCEL.value, actor=actor, at=at, event=OrderEventType.CANCELLED,
                  reason=reason, correlation_id=correlation_id)


# ------------------------------------------------------------------ review
def _reopen(order: Order) -> dict[str, Any]:
    """A returned order reviewed back to Draft keeps aside what it delivered
    (what stayed on site still counts for the stream, and may still be
    returned); its lines become what it orders again."""
    if order.status not in RETURNED:
        return {}
    return {"delivered_before": delivered(order)}


def edit(order: Order, *, actor: Actor, at: datetime, lines: list[OrderLine] | None = None,
         correlation_id: str | None = None, action: str = Action.EDIT.value, **fields: Any) -> Effect:
    """A user's content change: back to Draft, next revision, approval
    cleared, and the change is the user's (four eyes)."""
    changes: dict[str, Any] = dict(fields)
    if lines is not None:
        changes["lines"] = numbered(lines)
    after = evolve(order, at, status=transition(order.status, Action.EDIT), revision=order.revision + 1,
                   approved_at=None, approved_by=None, last_changed_by=actor.id, **_reopen(order), **changes)
    return record(order, after, action=action, actor=actor, at=at, event=OrderEventType.REVISED,
                  correlation_id=correlation_id)


def add_items(order: Order, items: Sequence[OrderLine], *, actor: Actor, at: datetime,
              base: list[OrderLine] | None = None, correlation_id: str | None = None) -> Effect:
    """Manual items added to the order's lines (or to `base`, the lines a
    returned order starts from when it is reviewed); a SKU already added by
    hand gets the quantities summed."""
    lines = [line.model_copy() for line in (order.lines if base is None else base)]
    for item in items:
        existing = next((ln for ln in lines if ln.sku == item.sku and ln.source == LineSource.MANUAL), None)
        if existing is not None:
            existing.qty += item.qty
        else:
            lines.append(OrderLine(line_no=len(lines) + 1, sku=item.sku, qty=item.qty, uom=item.uom,
                                   source=LineSource.MANUAL))
    return edit(order, actor=actor, at=at, lines=lines, correlation_id=correlation_id, action="add_items")


def approve(order: Order, *, actor: Actor, at: datetime, comment: str | None = None,
            correlation_id: str | None = None) -> Effect:
    after = evolve(order, at, status=transition(order.status, Action.APPROVE), approved_at=at,
                   approved_by=actor.id, rejection_reason=None)
    return record(order, after, action=Action.APPROVE.value, actor=actor, at=at, event=OrderEventType.APPROVED,
                  reason=comment, correlation_id=correlation_id)


def reject(order: Order, *, reason: str, actor: Actor, at: datetime, lines: list[OrderLine] | None = None,
           correlation_id: str | None = None) -> Effect:
    """An approver sends the order back to Draft with a reason. A returned
    order reviewed this way starts from `lines`, what its stream still needs
    (delta.still_needed), not from its whole original delivery."""
    changes: dict[str, Any] = {"lines": numbered(lines)} if lines is not None and order.status in RETURNED else {}
    after = evolve(order, at, status=transition(order.status, Action.REJECT), rejection_reason=reason,
                   approved_at=None, approved_by=None, **_reopen(order), **changes)
    return record(order, after, action=Action.REJECT.value, actor=actor, at=at, event=OrderEventType.REJECTED,
                  reason=reason, correlation_id=correlation_id)


def _unshort() -> dict[str, Any]:
    """A new content or a new decision starts the short-run count again."""
    return {"short_runs": 0, "short_seen": {}}


# -------------------------------------------------------------- allocation
def reservation_for(order: Order, *, warehouse_id: str, run_id: str, at: datetime) -> Reservation:
    """What `allocate` reserves: the order's lines in its warehouse."""
    return Reservation(order_id=order.order_id, warehouse_id=warehouse_id, lines=order.quantities(), run_id=run_id,
                       at=at)


def allocate(order: Order, *, warehouse_id: str, run_id: str, actor: Actor, at: datetime,
             note: str | None = None, reservation: Reservation | None = None) -> Effect:
    """Approved -> Allocated, with the order's lines reserved in its
    warehouse before the write (a refused reservation drops the write).
    `reservation`: one the order holds already (an interrupted run's, or
    this run's, made ahead by `reservation_for`), which this write completes."""
    reservation = reservation or reservation_for(order, warehouse_id=warehouse_id, run_id=run_id, at=at)
    after = evolve(order, at, status=transition(order.status, Action.ALLOCATE), warehouse_id=warehouse_id,
                   last_changed_by=actor.id)
    return record(order, after, action="allocate", actor=actor, at=at, event=OrderEventType.ALLOCATED, reason=note,
                  correlation_id=run_id, stock=StockEffect(reserve=reservation), run_id=run_id)


def allocation_reject(order: Order, *, code: str, detail: str, run_id: str, actor: Actor, at: datetime) -> Effect:
    after = evolve(order, at, status=transition(order.status, Action.ALLOCATION_REJECT), rejection_reason=code,
                   **_unshort(), last_changed_by=actor.id)
    return record(order, after, action="allocation_reject", actor=actor, at=at, event=OrderEventType.REJECTED,
                  reason=f"{code}: {detail}", correlation_id=run_id, run_id=run_id)


def short(order: Order, *, shortfall: Sequence[Mapping[str, Any]], seen: Mapping[str, int], run_id: str,
          actor: Actor, at: datetime) -> Effect:
    """The order stays Approved; the run counts one more short run on it and
    keeps the stock it saw, on hand per SKU of its lines
    (eligibility.AllocationRules.counts_as_short)."""
    transition(order.status, Action.ALLOCATE)  # only an Approved order can be short
    after = evolve(order, at, short_runs=order.short_runs + 1, short_seen=dict(seen))
    text = ", ".join(f"{s['sku']} needs {s['needed']}, {s['available']} left" for s in shortfall)
    return record(order, after, action="allocation_short", actor=actor, at=at, event=None,
                  reason=f"insufficient_stock: {text}", correlation_id=run_id)


def release(order: Order, *, reserved: Mapping[str, int], run_id: str, actor: Actor, at: datetime) -> Effect:
    after = evolve(order, at, status=transition(order.status, Action.RELEASE), last_changed_by=actor.id)
    return record(order, after, action="release", actor=actor, at=at, event=OrderEventType.RELEASE_REQUESTED,
                  correlation_id=run_id, run_id=run_id, reservation=dict(reserved))


# --------------------------------------------------------------- warehouse
def complete(order: Order, *, event_id: str, actor: Actor, at: datetime) -> Effect:
    after = evolve(order, at, status=transition(order.status, Action.COMPLETE), last_changed_by=actor.id)
    return record(order, after, action=Action.COMPLETE.value, actor=actor, at=at, event=OrderEventType.CLOSED,
                  correlation_id=event_id, stock=StockEffect(consume=order.order_id, first=True))


def warehouse_reject(order: Order, *, reason: str, event_id: str, actor: Actor, at: datetime) -> Effect:
    after = evolve(order, at, status=transition(order.status, Action.WAREHOUSE_REJECT), rejection_reason=reason,
                   approved_at=None, approved_by=None, **_unshort(), last_changed_by=actor.id)
    return record(order, after, action=Action.WAREHOUSE_REJECT.value, actor=actor, at=at,
                  event=OrderEventType.REJECTED, reason=reason, correlation_id=event_id,
                  stock=StockEffect(release=order.order_id, first=True))


def receive_return(order: Order, items: Mapping[str, int], *, reason: str, event_id: str, restock: Sequence[Restock],
                   actor: Actor, at: datetime, follow_up_order_id: str | None) -> Effect:
    """Returned units add up (several partial returns make a full one) and
    go back on hand; `items` must be returnable (returns.return_problems)."""
    returned = dict(order.returned)
    for sku, qty in items.items():
        returned[sku] = returned.get(sku, 0) + qty
    full = all(returned.get(sku, 0) >= qty for sku, qty in delivered(order).items())
    target = S.FULLY_RETURNED if full else S.PARTIALLY_RETURNED
    after = evolve(order, at, status=transition(order.status, Action.RETURN, target), returned=returned,
                   last_changed_by=actor.id)
    effect = record(order, after, action=Action.RETURN.value, actor=actor, at=at, event=OrderEventType.RETURNED,
                    reason=reason, correlation_id=event_id, stock=StockEffect(restock=tuple(restock), first=True),
                    returned_items=dict(items), returned_total=returned, return_reason=reason,
                    follow_up_order_id=follow_up_order_id)
    effect.audit.changes.extend(Change(path=f"returned.{sku}", old=order.returned.get(sku, 0), new=qty)
                                for sku, qty in sorted(returned.items()) if qty != order.returned.get(sku, 0))
    return effect


# ------------------------------------------------------------ master, flags
def follow_master(order: Order, project: Project, *, actor: Actor, at: datetime, correlation_id: str) -> Effect | None:
    """An open order takes the project master's current priority, gated flag,
    plan type, market and warehouse (None: nothing differs). A new warehouse
    for an Allocated order sends it back to Draft: its reservation is in the
    old warehouse and goes back."""
    if order.status not in OPEN:
        return None
    changed = {k: v for k, v in known_master_fields(project).items() if getattr(order, k) != v}
    if not changed:
        return None
    moved = "warehouse_id" in changed and order.status == S.ALLOCATED
    if moved:
        after = evolve(order, at, status=transition(order.status, Action.REVISE), rejection_reason="warehouse_changed",
                       approved_at=None, approved_by=None, **_unshort(), **changed)
        return record(order, after, action="master_updated", actor=actor, at=at, event=OrderEventType.REVISED,
                      reason=f"the project master moved the order to warehouse {changed['warehouse_id']}; "
                             "its reservation goes back and it is reviewed again",
                      correlation_id=correlation_id, stock=StockEffect(release=order.order_id))
    after = evolve(order, at, **changed)
    return record(order, after, action="master_updated", actor=actor, at=at, event=None,
                  reason="the project master changed", correlation_id=correlation_id)


def reschedule(order: Order, need_by: Any, *, actor: Actor, at: datetime, correlation_id: str) -> Effect:
    """Engineering's new need-by date (the SLA clock for material on site)."""
    after = evolve(order, at, need_by=need_by)
    return record(order, after, action="schedule_updated", actor=actor, at=at, event=None,
                  correlation_id=correlation_id)


def flag_sla(order: Order, keys: Sequence[str], *, reason: str, actor: Actor, at: datetime, correlation_id: str,
             **event_extra: Any) -> Effect:
    after = evolve(order, at, sla_breached=[*order.sla_breached, *keys])
    effect = record(order, after, action="sla_breached", actor=actor, at=at, event=OrderEventType.SLA_BREACHED,
                    reason=reason, correlation_id=correlation_id, **event_extra)
    # sla_breached is bookkeeping for the diff, but the flag is what this write did.
    effect.audit.changes.append(Change(path="sla_breached", old=order.sla_breached, new=after.sla_breached))
    return effect


def hold_engineering(order: Order, *, failed_checks: list[str], event_id: str, actor: Actor,
                     at: datetime) -> Effect:
    """Engineering found the site not feasible after the material was
    released: the order is flagged (it cannot be pulled back by a status)."""
    hold = EngineeringHold(at=at, event_id=event_id, failed_checks=failed_checks)
    after = evolve(order, at, engineering_hold=hold)
    return record(order, after, action="engineering_hold", actor=actor, at=at, event=None,
                  reason="not feasible after release" + (f": {', '.join(failed_checks)}" if failed_checks else ""),
                  correlation_id=event_id)


def clear_engineering(order: Order, *, event_id: str, actor: Actor, at: datetime) -> Effect:
    after = evolve(order, at, engineering_hold=None)
    return record(order, after, action="engineering_hold_cleared", actor=actor, at=at, event=None,
                  reason="feasible again", correlation_id=event_id)
