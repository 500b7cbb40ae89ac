"""The delta rules: what an engineering event does to its order stream
(DESIGN.md section 3, "Engineering events").

One formula serves every kind of order. What a stream *needs* is the newest
design's item list; what it *has* is, per SKU, what its non-cancelled orders
hold: their lines, plus what they delivered before a review re-ordered part
of them, less what came back. An order's engineering lines are
`need - has`, positive parts only:

- no live order yet            -> a new standard order with the whole design;
- latest live order Draft, Approved or Allocated -> that order is recreated
  with `need - has(other orders) - what it delivered itself before a review`
  (for a lone standard order: the design); the lines a user added by hand
  stay (OMS_KEEP_MANUAL_LINES, on by default; audited either way);
- latest live order Released   -> a delta order with `need - has(all)`;
- latest live order Closed or returned -> a supplemental order with
  `need - has(all)`, i.e. what goes beyond what stays on site.

Material on site is never ordered twice: a returned order reviewed back to
Draft starts from `still_needed`, the same formula.

"Live" means not Cancelled: a cancelled order neither holds stock nor blocks
the next design (DESIGN.md: latest `Cancelled` -> new order), but a stream
whose earlier orders were delivered still only gets what goes beyond them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from common.domain import orders as verbs
from common.domain.effects import Effect, same_lines
from common.domain.ids import stream_history_id
from common.domain.inbound import EngineeringEvent, EngineeringEventType
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
    alerts: list[str] = field(default_factory=list)  # for people: the handler notifies them


# ----------------------------------------------------------------- quantities

def holds(order: Order) -> dict[str, int]:
    """Per SKU, what one order holds for its stream: its lines (ordered, on
    their way or delivered), what it delivered before a review re-ordered part
    of it, less what came back. A cancelled order holds nothing."""
    total: dict[str, int] = {}
    if order.status == S.CANCELLED:
        return total
    for line in order.lines:
        total[line.sku] = total.get(line.sku, 0) + line.qty
    for sku, qty in order.delivered_before.items():
        total[sku] = total.get(sku, 0) + qty
    for sku, qty in order.returned.items():
        total[sku] = total.get(sku, 0) - qty
    return total


def has_quantities(orders: Iterable[Order]) -> dict[str, int]:
    """Per SKU: what the given orders hold, together."""
    total: dict[str, int] = {}
    for order in orders:
        for sku, qty in holds(order).items():
            total[sku] = total.get(sku, 0) + qty
    return total


def _plus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for sku, qty in b.items():
        out[sku] = out.get(sku, 0) + qty
    return out


def kept_on_site(order: Order) -> dict[str, int]:
    """What an order delivered before a review, less what came back: it
    stays on site while the order's lines order something again."""
    out: dict[str, int] = {}
    for sku, qty in order.delivered_before.items():
        out[sku] = qty - order.returned.get(sku, 0)
    return out


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


def still_needed(state: StreamState, order: Order) -> list[OrderLine]:
    """What `order`, a returned order under review, orders again: what the
    stream's newest design needs beyond what the stream's other orders hold
    (a follow-up order included) and beyond what stays on site of this order's
    own delivery. Nothing when the stream has no design."""
    others = [o for o in state.live() if o.order_id != order.order_id]
    return lines_beyond(state.stream.design_items, _plus(has_quantities(others), verbs.on_site(order)))


# --------------------------------------------------------------------- rules

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
              project: Project, design_version: int, at: datetime, actor: Actor, correlation_id: str,
              reason: str | None = None) -> Effect:
    effect = verbs.create(state.stream, kind=kind, parent=parent, lines=lines, project=project,
                          design_version=design_version, at=at, actor=actor, correlation_id=correlation_id,
                          reason=reason)
    state.orders[effect.order.order_id] = effect.order
    return effect


def _manual_note(manual: list[OrderLine], keep: bool) -> str:
    if not manual:
        return ""
    listed = ", ".join(f"{line.sku} x{line.qty}" for line in manual)
    return (f"; lines added by hand kept: {listed}" if keep
            else f"; lines added by hand dropped (OMS_KEEP_MANUAL_LINES is off): {listed}")


def _revise(state: StreamState, latest: Order, *, lines: list[OrderLine], project: Project,
            design_version: int, at: datetime, actor: Actor, correlation_id: str,
            keep_manual: bool) -> list[Effect]:
    """Recreate `latest` with the newest design; no effects when nothing changes."""
    manual = verbs.manual_lines(latest)
    wanted = [*lines, *manual] if keep_manual else list(lines)
    unchanged = (same_lines(latest.lines, wanted) and latest.need_by == state.stream.need_by
                 and all(getattr(latest, k) == v for k, v in verbs.known_master_fields(project).items()))
    if unchanged:
        return []
    effects: list[Effect] = []
    order = latest
    emptied = not wanted and latest.kind != OrderKind.STANDARD
    if not (emptied and latest.status == S.DRAFT):
        effect = verbs.revise(order, lines=wanted, project=project, need_by=state.stream.need_by,
                              design_version=design_version, at=at, actor=actor, correlation_id=correlation_id,
                              reason=f"design version {design_version}{_manual_note(manual, keep_manual)}")
        effects.append(effect)
        order = effect.order
    if emptied:
        # The newer design needs nothing beyond the rest of the stream: the
        # follow-up order has no purpose left (an Approved or Allocated one is
        # revised to Draft first, in the same write, so the table holds).
        changes: dict[str, object] = {} if effects else {
            "lines": [], "revision": order.revision + 1, "design_version": design_version,
            **verbs.known_master_fields(project)}
        effect = verbs.cancel(order, actor=actor, at=at, correlation_id=correlation_id,
                              reason="the newer design needs nothing beyond the stream's other orders", **changes)
        effects.append(effect)
        order = effect.order
    state.orders[order.order_id] = order
    return effects


def apply_qualified_design(state: StreamState, *, design_version: int, items: list[DesignItem],
                           event_id: str, project: Project, at: datetime, actor: Actor,
                           keep_manual: bool = True) -> Decision:
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
        # What this very order delivered before a review stays on site too.
        has = _plus(has_quantities(others), kept_on_site(latest))
        revised = _revise(state, latest, lines=lines_beyond(items, has), project=project,
                          design_version=design_version, at=at, actor=actor, correlation_id=event_id,
                          keep_manual=keep_manual)
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
                 at: datetime, actor: Actor = ENGINEERING, keep_manual: bool = True) -> Decision:
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
                                  event_id=event.event_id, project=project, at=at, actor=actor,
                                  keep_manual=keep_manual)


def reevaluate_parked(state: StreamState, project: Project, policy: QualifyingPolicy, at: datetime,
                      actor: Actor, keep_manual: bool = True) -> Decision | None:
    """Apply the stream's parked design once its project qualifies."""
    parked = state.stream.parked
    if parked is None or not policy.qualifies(project):
        return None
    return apply_qualified_design(state, design_version=parked.design_version, items=parked.items,
                                  event_id=parked.event_id, project=project, at=at, actor=actor,
                                  keep_manual=keep_manual)


def _fact_is_stale(at: datetime | None, event: EngineeringEvent) -> bool:
    return at is not None and event.occurred_at < at


def apply_facts(state: StreamState, event: EngineeringEvent, at: datetime,
                actor: Actor = ENGINEERING) -> Decision:
    """ScheduleUpdated / FeasibilityUpdated: the stream's facts change, later
    facts win by `occurred_at` (out-of-order delivery is normal). A site found
    not feasible after its material was released flags the released orders
    (`Decision.alerts`); a later feasible update clears the flag."""
    stream = state.stream
    effects: list[Effect] = []
    alerts: list[str] = []
    if event.event_type == EngineeringEventType.SCHEDULE_UPDATED:
        if _fact_is_stale(stream.schedule_at, event):
            return _stale_fact(state, event, at, actor, "schedule", stream.schedule_at)
        changes = [Change(path="need_by", old=_iso(stream.need_by), new=_iso(event.need_by))]
        stream.need_by, stream.schedule_at = event.need_by, event.occurred_at
        for order in state.ordered():
            if order.status in (S.DRAFT, S.APPROVED, S.ALLOCATED, S.RELEASED) and order.need_by != event.need_by:
                effects.append(verbs.reschedule(order, event.need_by, actor=actor, at=at,
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
        failed = [c.name for c in checks if c.status.value != "passed"]
        for order in state.ordered():
            if not event.feasible and order.status == S.RELEASED and order.engineering_hold is None:
                effects.append(verbs.hold_engineering(order, failed_checks=failed, event_id=event.event_id,
                                                      actor=actor, at=at))
                alerts.append(f"order {order.order_id} was released but its site is not feasible"
                              + (f" ({', '.join(failed)})" if failed else ""))
            elif event.feasible and order.engineering_hold is not None:
                effects.append(verbs.clear_engineering(order, event_id=event.event_id, actor=actor, at=at))
        action = "feasibility_updated"
    for effect in effects:
        state.orders[effect.order.order_id] = effect.order
    stream.updated_at = at
    latest = state.live()[-1].order_id if state.live() else None
    audit = _stream_audit(state, action=action, at=at, actor=actor, correlation_id=event.event_id,
                          changes=[c for c in changes if c.old != c.new])
    # Each changed order's own audit entry tells a schedule change; one more line would repeat it.
    stream_audit = [] if effects and action == "schedule_updated" else [audit]
    return Decision(Outcome.APPLIED, latest, effects=effects, stream=stream, stream_audit=stream_audit,
                    alerts=alerts)


def _stale_fact(state: StreamState, event: EngineeringEvent, at: datetime, actor: Actor, what: str,
                newer: datetime | None) -> Decision:
    reason = f"a newer {what} update (of {_iso(newer)}) was applied already"
    audit = _stream_audit(state, action=f"{what}_skipped_stale", at=at, actor=actor,
                          correlation_id=event.event_id, reason=reason)
    return Decision(Outcome.SKIPPED_STALE, None, reasons=[reason], stream_audit=[audit])


def _iso(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value


def decide(state: StreamState, event: EngineeringEvent, project: Project, policy: QualifyingPolicy,
           at: datetime, actor: Actor = ENGINEERING, keep_manual: bool = True) -> Decision:
    """Entry point: what `event` does to its stream."""
    if event.is_design:
        return apply_design(state, event, project, policy, at, actor, keep_manual)
    return apply_facts(state, event, at, actor)
