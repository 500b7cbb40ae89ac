"""What a warehouse event does to its order (DESIGN.md section 3,
"Warehouse callbacks and returns"). Pure: the service layer loads the order
and its stream, and commits the decision's effects (each carrying its stock
effect, which the warehouse applies first: see effects.py).

- `ReleaseCompleted`: Released -> Closed; the reservation is consumed.
- `ReleaseRejected`: Released / Allocated -> Draft with the reason; the
  reservation goes back.
- `ReturnReceived`: Closed / PartiallyReturned -> PartiallyReturned or
  FullyReturned; the units go back on hand; a follow-up order per the return
  policy (returns.py).

An event for an order that is not there yet but on its way (a completion
while the order is Allocated) waits on the order (`Order.held_events`);
anything else the order cannot take is refused with its reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from common.domain import orders as verbs
from common.domain.delta import Outcome, StreamState
from common.domain.effects import Effect, Restock, evolve, record
from common.domain.lifecycle import Action, allows
from common.domain.models import Actor, ActorType, Change, HeldEvent, Order, OrderStatus, Project, Reason
from common.domain.returns import FollowUp, follow_up, follow_up_of, return_problems
from common.domain.warehouse_inbound import (
    OrderEvent,
    ReleaseCompleted,
    ReleaseRejected,
    ReturnReceived,
    WarehouseEventType,
    adjustment_id,
)

S = OrderStatus
WAREHOUSE = Actor(type=ActorType.EXTERNAL, id="warehouse")

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


@dataclass
class WarehouseDecision:
    """What one warehouse event does to its order: applied (effects), held
    (an effect that keeps the event on the order), or refused (`problems`;
    nothing changes: the handler quarantines the event and notes the refusal
    on the order's audit trail, effects.refusal)."""

    outcome: Outcome
    order_id: str | None
    notes: list[str] = field(default_factory=list)
    problems: list[Reason] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    stream_changed: bool = False
    follow_up_order_id: str | None = None

    @property
    def refused(self) -> bool:
        return self.outcome == Outcome.QUARANTINED


def refuse(order_id: str | None, *problems: Reason) -> WarehouseDecision:
    return WarehouseDecision(Outcome.QUARANTINED, order_id, problems=list(problems))


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

def _return(state: StreamState, order: Order, event: ReturnReceived, choice: FollowUp, project: Project | None,
            at: datetime, actor: Actor) -> WarehouseDecision:
    problems = return_problems(order, list(event.items))
    if problems:
        return refuse(order.order_id, *problems)
    assert order.warehouse_id is not None
    items = {item.sku: item.qty for item in event.items}
    restock = [Restock(order.warehouse_id, item.sku, item.qty, adjustment_id("return", event.event_id, item.sku))
               for item in event.items]
    # The follow-up is decided against the stream with this return in it.
    preview = verbs.receive_return(order, items, reason=event.reason, event_id=event.event_id, restock=restock,
                                   actor=actor, at=at, follow_up_order_id=None)
    state.orders[order.order_id] = preview.order
    follow, note = follow_up(state, preview.order, event, choice, project, at, actor)
    effect = verbs.receive_return(order, items, reason=event.reason, event_id=event.event_id, restock=restock,
                                  actor=actor, at=at, follow_up_order_id=follow.order.order_id if follow else None)
    state.orders[order.order_id] = effect.order
    return WarehouseDecision(Outcome.APPLIED, order.order_id, notes=[note],
                             effects=[effect, *([follow] if follow else [])], stream_changed=follow is not None,
                             follow_up_order_id=follow.order.order_id if follow else None)


def decide_order_event(state: StreamState, order: Order, event: OrderEvent, *, policy: Mapping[str, str],
                       project: Project | None, at: datetime, actor: Actor = WAREHOUSE,
                       may_hold: bool = True) -> WarehouseDecision:
    """What `event` does to `order` (the order as it is now, `state` its stream)."""
    choice: FollowUp | None = None
    if isinstance(event, ReturnReceived):
        found = follow_up_of(event.reason, policy)
        if isinstance(found, Reason):  # no order status makes an unknown reason valid: refuse now
            return refuse(order.order_id, found)
        choice = found
    ready, why = readiness(order, event)
    if ready == Readiness.WAIT and may_hold:
        return WarehouseDecision(Outcome.PARKED, order.order_id, notes=[why],
                                 effects=[hold(order, event, why=why, at=at, actor=actor)])
    if ready == Readiness.WAIT:
        return WarehouseDecision(Outcome.PARKED, order.order_id, notes=[why])
    if ready == Readiness.IMPOSSIBLE:
        return refuse(order.order_id, Reason(loc=["event_type"], msg=why, type="illegal_transition"))
    if isinstance(event, ReleaseCompleted):
        effect = verbs.complete(order, event_id=event.event_id, actor=actor, at=at)
    elif isinstance(event, ReleaseRejected):
        effect = verbs.warehouse_reject(order, reason=event.reason, event_id=event.event_id, actor=actor, at=at)
    else:
        assert choice is not None
        return _return(state, order, event, choice, project, at, actor)
    return WarehouseDecision(Outcome.APPLIED, order.order_id, effects=[effect])
