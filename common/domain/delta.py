"""The delta rules: what an engineering event does to its order stream
(DESIGN.md section 3, "Engineering events").

One formula serves every kind of order. What a stream *needs* is the newest
design's item list; what it *has* is, per SKU, the quantity on its other
non-cancelled orders less what came back from them. An order's lines are
`need - has`, positive parts only:

- no live order yet            -> a new standard order with the whole design;
- latest live order Draft, Approved or Allocated -> that order is recreated
  with `need - has(other orders)` (for a lone standard order: the design);
- latest live order Released   -> a delta order with `need - has(all)`;
- latest live order Closed or returned -> a supplemental order with
  `need - has(all)`, i.e. what goes beyond the delivered quantities.

"Live" means not Cancelled: a cancelled order neither holds stock nor blocks
the next design (DESIGN.md: latest `Cancelled` -> new order), but a stream
whose earlier orders were delivered still only gets what goes beyond them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from common.domain.events import OrderEventType
from common.domain.history import Effect, evolve, record, same_lines
from common.domain.ids import order_id, order_number, stream_history_id
from common.domain.inbound import EngineeringEvent, EngineeringEventType
from common.domain.lifecycle import Action, transition
from common.domain.models import (
    Actor,
    ActorType,
    AuditEntry,
    Change,
    DesignItem,
    LineSource,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    ParkedDesign,
    Project,
    Stream,
    StreamKey,
)
from common.domain.validation import QualifyingPolicy

S = OrderStatus
ENGINEERING = Actor(type=ActorType.EXTERNAL, id="engineering")


class Outcome(StrEnum):
    CREATED = "created"
    REVISED = "revised"
    DELTA_CREATED = "delta_created"
    SUPPLEMENTAL_CREATED = "supplemental_created"
    APPLIED = "applied"
    SKIPPED_DUPLICATE = "skipped_duplicate"
    SKIPPED_STALE = "skipped_stale"
    SKIPPED_UNCHANGED = "skipped_unchanged"
    PARKED = "parked"
    QUARANTINED = "quarantined"


# How each outcome is counted in a job run (CONTRACT.md: Job run).
COUNT_OF: dict[Outcome, str] = {
    Outcome.CREATED: "created",
    Outcome.DELTA_CREATED: "created",
    Outcome.SUPPLEMENTAL_CREATED: "created",
    Outcome.REVISED: "modified",
    Outcome.APPLIED: "modified",
    Outcome.SKIPPED_DUPLICATE: "skipped",
    Outcome.SKIPPED_STALE: "skipped",
    Outcome.SKIPPED_UNCHANGED: "skipped",
    Outcome.PARKED: "parked",
    Outcome.QUARANTINED: "quarantined",
}


@dataclass
class StreamState:
    """A stream and all its orders, as the rules need them."""

    stream: Stream
    orders: dict[str, Order] = field(default_factory=dict)

    @classmethod
    def new(cls, key: StreamKey) -> StreamState:
        return cls(Stream(stream_id=key.id, project_id=key.project_id, site_code=key.site_code,
                          order_type=key.order_type))

    def ordered(self) -> list[Order]:
        return [self.orders[i] for i in self.stream.order_ids if i in self.orders]

    def live(self) -> list[Order]:
        return [o for o in self.ordered() if o.status != S.CANCELLED]


@dataclass
class Decision:
    """What one event does: the outcome, the order writes with their audit
    and outbox, and the stream as it must be written (None: unchanged)."""

    outcome: Outcome
    order_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    stream: Stream | None = None
    stream_audit: list[AuditEntry] = field(default_factory=list)


# ----------------------------------------------------------------- quantities

def has_quantities(orders: Iterable[Order]) -> dict[str, int]:
    """Per SKU: what the given orders hold, less what came back from them."""
    total: dict[str, int] = {}
    for order in orders:
        if order.status == S.CANCELLED:
            continue
        for line in order.lines:
            total[line.sku] = total.get(line.sku, 0) + line.qty
        for sku, qty in order.delivered_before.items():
            total[sku] = total.get(sku, 0) + qty
        for sku, qty in order.returned.items():
            total[sku] = total.get(sku, 0) - qty
    return total


def lines_beyond(items: list[DesignItem], has: dict[str, int]) -> list[OrderLine]:
    """The design's items beyond what the stream has, in design order."""
    lines: list[OrderLine] = []
    for item in items:
        missing = item.qty - max(has.get(item.sku, 0), 0)
        if missing > 0:
            lines.append(OrderLine(line_no=len(lines) + 1, sku=item.sku, qty=missing, uom=item.uom,
                                   source=LineSource.ENGINEERING))
    return lines


def reductions(items: list[DesignItem], has: dict[str, int]) -> list[str]:
    """SKUs the stream holds more of than the design needs (a released or
    delivered quantity cannot be taken back by an order; it needs a return)."""
    need = {item.sku: item.qty for item in items}
    return sorted(sku for sku, qty in has.items() if qty > need.get(sku, 0))


# --------------------------------------------------------------------- rules

def _project_fields(project: Project, stream: Stream) -> dict[str, object]:
    return {
        "warehouse_id": project.warehouse_id,
        "market": project.market,
        "national_priority": project.national_priority,
        "gated": project.gated,
        "plan_type": project.plan_type,
        "need_by": stream.need_by,
    }


def _stream_audit(state: StreamState, *, action: str, at: datetime, actor: Actor, correlation_id: str,
                  reason: str | None = None, changes: list[Change] | None = None) -> AuditEntry:
    stream = state.stream
    latest = state.live()[-1] if state.live() else None
    return AuditEntry(
        audit_id=stream_history_id(stream.stream_id, f"{action}|{correlation_id}"),
        order_id=latest.order_id if latest else None,
        project_id=stream.project_id,
        stream_id=stream.stream_id,
        at=at,
        actor=actor,
        action=action,
        from_status=latest.status if latest else None,
        to_status=latest.status if latest else None,
        changes=changes or [],
        reason=reason,
        correlation_id=correlation_id,
    )


def new_order(state: StreamState, *, kind: OrderKind, parent: Order | None, lines: list[OrderLine],
               project: Project, design_version: int, at: datetime, actor: Actor,
               correlation_id: str) -> Effect:
    stream = state.stream
    seq = stream.next_seq
    key = stream.key
    order = Order(
        order_id=order_id(key, seq),
        order_number=order_number(key, seq),
        kind=kind,
        parent_order_id=parent.order_id if parent else None,
        project_id=key.project_id,
        site_code=key.site_code,
        order_type=key.order_type,
        seq=seq,
        status=S.DRAFT,
        design_version=design_version,
        lines=lines,
        last_changed_by=actor.id,
        status_since=at,
        created_at=at,
        updated_at=at,
        **_project_fields(project, stream),
    )
    stream.next_seq = seq + 1
    stream.order_ids = [*stream.order_ids, order.order_id]
    state.orders[order.order_id] = order
    return record(None, order, action="create", actor=actor, at=at, event=OrderEventType.CREATED,
                  correlation_id=correlation_id)


def _revise(state: StreamState, latest: Order, *, lines: list[OrderLine], project: Project,
            design_version: int, at: datetime, actor: Actor, correlation_id: str) -> list[Effect]:
    """Recreate `latest` with the newest design; no effects when nothing changes."""
    fields = _project_fields(project, state.stream)
    unchanged = same_lines(latest.lines, lines) and all(getattr(latest, k) == v for k, v in fields.items())
    if unchanged:
        return []
    effects: list[Effect] = []
    order = latest
    emptied = not lines and latest.kind != OrderKind.STANDARD
    if not (emptied and latest.status == S.DRAFT):
        after = evolve(
            order, at,
            status=transition(order.status, Action.REVISE),
            lines=lines,
            revision=order.revision + 1,
            design_version=design_version,
            rejection_reason=None,
            approved_at=None,
            approved_by=None,
            short_runs=0,
            last_changed_by=actor.id,
            **fields,
        )
        effects.append(record(order, after, action=Action.REVISE.value, actor=actor, at=at,
                              event=OrderEventType.REVISED, correlation_id=correlation_id,
                              reason=f"design version {design_version}",
                              releases_reservation=order.status == S.ALLOCATED))
        order = after
    if emptied:
        # The newer design needs nothing beyond the rest of the stream: the
        # follow-up order has no purpose left (an Approved or Allocated one is
        # revised to Draft first, in the same write, so the table holds).
        changes: dict[str, object] = {} if effects else {"lines": [], "revision": order.revision + 1,
                                                         "design_version": design_version, **fields}
        after = evolve(order, at, status=transition(order.status, Action.CANCEL), **changes)
        effects.append(record(order, after, action=Action.CANCEL.value, actor=actor, at=at,
                              event=OrderEventType.CANCELLED, correlation_id=correlation_id,
                              reason="the newer design needs nothing beyond the stream's other orders"))
        order = after
    state.orders[order.order_id] = order
    return effects


def apply_qualified_design(state: StreamState, *, design_version: int, items: list[DesignItem],
                           event_id: str, project: Project, at: datetime, actor: Actor) -> Decision:
    """The rules of DESIGN.md section 3, step 5, for a design that qualifies."""
    stream = state.stream
    stream.design_version = design_version
    stream.design_items = items
    stream.design_event_id = event_id
    stream.parked = None
    stream.updated_at = at
    live = state.live()
    latest = live[-1] if live else None

    if latest is None:
        effect = new_order(state, kind=OrderKind.STANDARD, parent=None,
                            lines=lines_beyond(items, {}), project=project,
                            design_version=design_version, at=at, actor=actor, correlation_id=event_id)
        return Decision(Outcome.CREATED, effect.order.order_id, effects=[effect], stream=stream)

    if latest.status in (S.DRAFT, S.APPROVED, S.ALLOCATED):
        others = [o for o in live if o.order_id != latest.order_id]
        has = has_quantities(others)
        revised = _revise(state, latest, lines=lines_beyond(items, has), project=project,
                          design_version=design_version, at=at, actor=actor, correlation_id=event_id)
        if not revised:
            return Decision(Outcome.SKIPPED_UNCHANGED, latest.order_id,
                            reasons=["the design does not change the order"], stream=stream)
        return Decision(Outcome.REVISED, latest.order_id, effects=revised, stream=stream,
                        reasons=_reduction_notes(items, has))

    kind, outcome = (
        (OrderKind.DELTA, Outcome.DELTA_CREATED) if latest.status == S.RELEASED
        else (OrderKind.SUPPLEMENTAL, Outcome.SUPPLEMENTAL_CREATED)
    )
    has = has_quantities(live)
    lines = lines_beyond(items, has)
    if not lines:
        return Decision(Outcome.SKIPPED_UNCHANGED, latest.order_id, stream=stream,
                        reasons=["the design needs nothing beyond what the stream already has",
                                 *_reduction_notes(items, has)])
    effect = new_order(state, kind=kind, parent=latest, lines=lines, project=project,
                        design_version=design_version, at=at, actor=actor, correlation_id=event_id)
    return Decision(outcome, effect.order.order_id, effects=[effect], stream=stream,
                    reasons=_reduction_notes(items, has))


def _reduction_notes(items: list[DesignItem], has: dict[str, int]) -> list[str]:
    cut = reductions(items, has)
    return [f"the design needs less of {', '.join(cut)} than the stream holds; a return settles it"] if cut else []


def apply_design(state: StreamState, event: EngineeringEvent, project: Project, policy: QualifyingPolicy,
                 at: datetime, actor: Actor = ENGINEERING) -> Decision:
    """A DesignApproved / DesignRevised event (schema- and reference-valid)."""
    assert event.design_version is not None and event.items is not None
    stream = state.stream
    newest = stream.newest_design_version
    if newest is not None and event.design_version <= newest:
        reason = f"design version {event.design_version} is not newer than version {newest}"
        audit = _stream_audit(state, action="design_skipped_stale", at=at, actor=actor,
                              correlation_id=event.event_id, reason=reason)
        return Decision(Outcome.SKIPPED_STALE, state.live()[-1].order_id if state.live() else None,
                        reasons=[reason], stream_audit=[audit])
    items = [DesignItem(sku=i.sku, qty=i.qty, uom=i.uom) for i in event.items]
    why_not = policy.why_not(project)
    if why_not is not None:
        stream.parked = ParkedDesign(event_id=event.event_id, design_version=event.design_version,
                                     items=items, reason=why_not, parked_at=at)
        stream.updated_at = at
        audit = _stream_audit(state, action="design_parked", at=at, actor=actor,
                              correlation_id=event.event_id, reason=why_not,
                              changes=[Change(path="parked.design_version", new=event.design_version)])
        return Decision(Outcome.PARKED, None, reasons=[why_not], stream=stream, stream_audit=[audit])
    return apply_qualified_design(state, design_version=event.design_version, items=items,
                                  event_id=event.event_id, project=project, at=at, actor=actor)


def reevaluate_parked(state: StreamState, project: Project, policy: QualifyingPolicy, at: datetime,
                      actor: Actor) -> Decision | None:
    """Apply the stream's parked design once its project qualifies."""
    parked = state.stream.parked
    if parked is None or not policy.qualifies(project):
        return None
    return apply_qualified_design(state, design_version=parked.design_version, items=parked.items,
                                  event_id=parked.event_id, project=project, at=at, actor=actor)


def _fact_is_stale(at: datetime | None, event: EngineeringEvent) -> bool:
    return at is not None and event.occurred_at < at


def apply_facts(state: StreamState, event: EngineeringEvent, at: datetime,
                actor: Actor = ENGINEERING) -> Decision:
    """ScheduleUpdated / FeasibilityUpdated: the stream's facts change, later
    facts win by `occurred_at` (out-of-order delivery is normal)."""
    stream = state.stream
    if event.event_type == EngineeringEventType.SCHEDULE_UPDATED:
        if _fact_is_stale(stream.schedule_at, event):
            return _stale_fact(state, event, at, actor, "schedule", stream.schedule_at)
        changes = [Change(path="need_by", old=_iso(stream.need_by), new=_iso(event.need_by))]
        stream.need_by, stream.schedule_at = event.need_by, event.occurred_at
        effects = []
        for order in state.ordered():
            if order.status in (S.DRAFT, S.APPROVED, S.ALLOCATED, S.RELEASED) and order.need_by != event.need_by:
                after = evolve(order, at, need_by=event.need_by)
                state.orders[after.order_id] = after
                effects.append(record(order, after, action="schedule_updated", actor=actor, at=at, event=None,
                                      correlation_id=event.event_id))
        action = "schedule_updated"
    else:
        if _fact_is_stale(stream.feasibility_at, event):
            return _stale_fact(state, event, at, actor, "feasibility", stream.feasibility_at)
        assert event.feasible is not None
        checks = event.checks or []
        changes = [Change(path="feasible", old=stream.feasible, new=event.feasible),
                   Change(path="checks", old=[c.model_dump(mode="json") for c in stream.checks],
                          new=[c.model_dump(mode="json") for c in checks])]
        stream.feasible, stream.checks, stream.feasibility_at = event.feasible, checks, event.occurred_at
        effects = []
        action = "feasibility_updated"
    stream.updated_at = at
    latest = state.live()[-1].order_id if state.live() else None
    if effects:  # each changed order's own audit entry tells it; one more line would repeat it
        return Decision(Outcome.APPLIED, latest, effects=effects, stream=stream)
    audit = _stream_audit(state, action=action, at=at, actor=actor, correlation_id=event.event_id,
                          changes=[c for c in changes if c.old != c.new])
    return Decision(Outcome.APPLIED, latest, effects=effects, stream=stream, stream_audit=[audit])


def _stale_fact(state: StreamState, event: EngineeringEvent, at: datetime, actor: Actor, what: str,
                newer: datetime | None) -> Decision:
    reason = f"a newer {what} update (of {_iso(newer)}) was applied already"
    audit = _stream_audit(state, action=f"{what}_skipped_stale", at=at, actor=actor,
                          correlation_id=event.event_id, reason=reason)
    return Decision(Outcome.SKIPPED_STALE, None, reasons=[reason], stream_audit=[audit])


def _iso(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def decide(state: StreamState, event: EngineeringEvent, project: Project, policy: QualifyingPolicy,
           at: datetime, actor: Actor = ENGINEERING) -> Decision:
    """Entry point: what `event` does to its stream."""
    if event.is_design:
        return apply_design(state, event, project, policy, at, actor)
    return apply_facts(state, event, at, actor)
