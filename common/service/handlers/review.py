"""People review orders: edit, add manual items, approve, reject, cancel and
reprocess (CONTRACT.md: HTTP API; DESIGN.md section 3, States), and try a
quarantined input again.

Each command is one short `load -> check -> decide -> commit` block on a
fresh unit of work. The status always moves through `lifecycle.transition`
(an illegal move names the current status), the write goes with its audit
entry and outbox event, and an `If-Match` ETag, when given, must be the one
the order has (else `ConcurrencyConflict`; a concurrent writer that wins the
commit gives the same).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from common.domain.delta import Decision, Outcome, apply_qualified_design
from common.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    ValidationFailed,
)
from common.domain.events import OrderEventType
from common.domain.history import Effect, evolve, record, same_lines
from common.domain.lifecycle import Action, transition
from common.domain.models import Actor, LineSource, Order, OrderLine, QuarantineRecord, Reason
from common.domain.returns import reopened
from common.domain.validation import approval_reasons, sku_reasons
from common.service.bootstrap import Deps
from common.service.commands import ENGINEERING_SOURCE, WAREHOUSE_SOURCE, ApplyWarehouseEvents, IngestEngineeringEvents
from common.service.unit_of_work import UnitOfWork

log = logging.getLogger("oms.review")

# What a planner may change on an order besides its lines; the rest comes
# from the project master and the design and is refreshed by revisions.
EDITABLE_FIELDS = ("warehouse_id", "need_by")


class NotOpen(DomainError):
    """The quarantine record was reprocessed or discarded already."""

    code = "not_open"


# ------------------------------------------------------------------ commands

@dataclass(frozen=True)
class LineInput:
    sku: str
    qty: int
    uom: str = "EA"
    source: LineSource | None = None  # None: kept from the order's line of that SKU, else manual


@dataclass(frozen=True)
class EditOrder:
    """Replace the lines (when `lines` is not None) and set `fields` (merge-patch)."""

    order_id: str
    actor: Actor
    if_match: str | None
    lines: Sequence[LineInput] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None


@dataclass(frozen=True)
class AddItems:
    order_id: str
    actor: Actor
    items: Sequence[LineInput]
    if_match: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class ApproveOrder:
    order_id: str
    actor: Actor
    if_match: str | None = None
    comment: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class RejectOrder:
    order_id: str
    actor: Actor
    reason: str
    if_match: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    actor: Actor
    reason: str | None = None
    if_match: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class ReprocessOrder:
    order_id: str
    actor: Actor
    correlation_id: str
    if_match: str | None = None


@dataclass(frozen=True)
class ReprocessQuarantined:
    record_id: str
    actor: Actor
    correlation_id: str | None = None


@dataclass
class ReprocessResult:
    outcome: str
    order_id: str | None
    reasons: list[str]
    order: Order | None


@dataclass
class QuarantineReprocessResult:
    record: QuarantineRecord
    results: list[dict[str, Any]]


# ------------------------------------------------------------------- helpers

def normalize_etag(value: str | None) -> str | None:
    """`If-Match` quoted or bare, weak prefix tolerated; `*` matches anything."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def _load(uow: UnitOfWork, order_id: str, if_match: str | None) -> Order:
    order = uow.order(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    expected = normalize_etag(if_match)
    if expected is not None and expected != "*" and expected != order.etag:
        raise ConcurrencyConflict(f"order {order_id} changed since it was read (ETag {order.etag} is current)")
    return order


def _commit(deps: Deps, uow: UnitOfWork, order_id: str) -> None:
    result = uow.commit()
    if not result.ok:
        raise ConcurrencyConflict(f"order {order_id} was changed by someone else meanwhile; read it again")
    for released in uow.released_reservations:
        deps.inventory.release_reservation(released)


def _save(deps: Deps, uow: UnitOfWork, effect: Effect) -> Order:
    uow.add_effect(effect)
    _commit(deps, uow, effect.order.order_id)
    return effect.order


def _new_lines(old: list[OrderLine], wanted: Sequence[LineInput]) -> list[OrderLine]:
    sources: dict[str, set[LineSource]] = {}
    for line in old:
        sources.setdefault(line.sku, set()).add(line.source)
    lines: list[OrderLine] = []
    seen: set[tuple[str, LineSource]] = set()
    reasons: list[Reason] = []
    for index, item in enumerate(wanted):
        known = sources.get(item.sku, set())
        source = item.source or (next(iter(known)) if len(known) == 1 else LineSource.MANUAL)
        if (item.sku, source) in seen:
            reasons.append(Reason(loc=["lines", index, "sku"], type="duplicate",
                                  msg=f"SKU {item.sku} ({source.value}) appears more than once"))
        seen.add((item.sku, source))
        lines.append(OrderLine(line_no=index + 1, sku=item.sku, qty=item.qty, uom=item.uom, source=source))
    if reasons:
        raise InvalidInput("the lines are not valid", reasons)
    return lines


def _check_skus(deps: Deps, lines: Sequence[LineInput], loc: str) -> None:
    catalog = deps.store.get_catalog(list({line.sku for line in lines}))
    reasons = sku_reasons([([loc, i, "sku"], line.sku) for i, line in enumerate(lines)], catalog)
    if reasons:
        raise InvalidInput("unknown or inactive SKUs", reasons)


def _content_change(order: Order, at: Any, actor: Actor, **changes: Any) -> Order:
    """The order after a user's content change: back to Draft, next revision,
    approval cleared, and the change is the actor's (four-eyes)."""
    return evolve(order, at, status=transition(order.status, Action.EDIT), revision=order.revision + 1,
                  **reopened(order),
                  approved_at=None, approved_by=None, last_changed_by=actor.id, **changes)


# ------------------------------------------------------------------ handlers

def edit_order(deps: Deps, cmd: EditOrder) -> Order:
    unknown = sorted(set(cmd.fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidInput("fields that cannot be edited", [
            Reason(loc=["body", name], msg=f"{name} is not an editable field", type="not_editable")
            for name in unknown])
    if cmd.lines is not None:
        _check_skus(deps, cmd.lines, "lines")
    uow = UnitOfWork(deps.store)
    order = _load(uow, cmd.order_id, cmd.if_match)
    changes: dict[str, Any] = dict(cmd.fields)
    if cmd.lines is not None:
        changes["lines"] = _new_lines(order.lines, cmd.lines)
    same = all(getattr(order, k) == v for k, v in changes.items() if k != "lines") and (
        "lines" not in changes or same_lines(order.lines, changes["lines"]))
    if same:
        # Nothing changes: no new revision, but the request must still be legal.
        transition(order.status, Action.EDIT)
        return order
    at = deps.clock.now()
    after = _content_change(order, at, cmd.actor, **changes)
    return _save(deps, uow, record(order, after, action=Action.EDIT.value, actor=cmd.actor, at=at,
                                   event=OrderEventType.REVISED, correlation_id=cmd.correlation_id))


def add_items(deps: Deps, cmd: AddItems) -> Order:
    if not cmd.items:
        raise InvalidInput("no items to add",
                           [Reason(loc=["body", "items"], msg="at least one item", type="too_short")])
    _check_skus(deps, cmd.items, "items")
    uow = UnitOfWork(deps.store)
    order = _load(uow, cmd.order_id, cmd.if_match)
    lines = [line.model_copy() for line in order.lines]
    for item in cmd.items:
        existing = next((ln for ln in lines if ln.sku == item.sku and ln.source == LineSource.MANUAL), None)
        if existing is not None:
            existing.qty += item.qty
        else:
            lines.append(OrderLine(line_no=len(lines) + 1, sku=item.sku, qty=item.qty, uom=item.uom,
                                   source=LineSource.MANUAL))
    at = deps.clock.now()
    after = _content_change(order, at, cmd.actor, lines=lines)
    return _save(deps, uow, record(order, after, action="add_items", actor=cmd.actor, at=at,
                                   event=OrderEventType.REVISED, correlation_id=cmd.correlation_id))


def approve_order(deps: Deps, cmd: ApproveOrder) -> Order:
    uow = UnitOfWork(deps.store)
    order = _load(uow, cmd.order_id, cmd.if_match)
    status = transition(order.status, Action.APPROVE)
    if deps.settings.four_eyes and order.last_changed_by == cmd.actor.id:
        raise Forbidden(f"four-eyes rule: {cmd.actor.id} made the last change to order {order.order_id} "
                        "and may not approve it; another approver must")
    project = deps.store.get_projects([order.project_id]).get(order.project_id)
    catalog = deps.store.get_catalog([line.sku for line in order.lines])
    stream = deps.store.get_streams([order.stream.id]).get(order.stream.id)
    reasons = approval_reasons(order, project, catalog, stream)
    if reasons:
        raise ValidationFailed(f"order {order.order_id} cannot be approved", reasons)
    at = deps.clock.now()
    after = evolve(order, at, status=status, approved_at=at, approved_by=cmd.actor.id, rejection_reason=None)
    return _save(deps, uow, record(order, after, action=Action.APPROVE.value, actor=cmd.actor, at=at,
                                   event=OrderEventType.APPROVED, reason=cmd.comment,
                                   correlation_id=cmd.correlation_id))


def reject_order(deps: Deps, cmd: RejectOrder) -> Order:
    if not cmd.reason.strip():
        raise InvalidInput("a reason is required", [Reason(loc=["body", "reason"], msg="must not be empty")])
    uow = UnitOfWork(deps.store)
    order = _load(uow, cmd.order_id, cmd.if_match)
    at = deps.clock.now()
    after = evolve(order, at, status=transition(order.status, Action.REJECT), rejection_reason=cmd.reason,
                   approved_at=None, approved_by=None, **reopened(order))
    return _save(deps, uow, record(order, after, action=Action.REJECT.value, actor=cmd.actor, at=at,
                                   event=OrderEventType.REJECTED, reason=cmd.reason,
                                   correlation_id=cmd.correlation_id))


def cancel_order(deps: Deps, cmd: CancelOrder) -> Order:
    uow = UnitOfWork(deps.store)
    order = _load(uow, cmd.order_id, cmd.if_match)
    at = deps.clock.now()
    after = evolve(order, at, status=transition(order.status, Action.CANCEL))
    return _save(deps, uow, record(order, after, action=Action.CANCEL.value, actor=cmd.actor, at=at,
                                   event=OrderEventType.CANCELLED, reason=cmd.reason,
                                   correlation_id=cmd.correlation_id))


def reprocess_order(deps: Deps, cmd: ReprocessOrder) -> ReprocessResult:
    """Run the delta rules for the order's stream again with the latest data:
    the newest design kept on the stream (a parked one once the project
    qualifies) and the project master as it is now."""
    uow = UnitOfWork(deps.store)
    order = _load(uow, cmd.order_id, cmd.if_match)
    state = uow.stream_state(order.stream)
    stream = state.stream
    parked = stream.parked
    version = parked.design_version if parked else stream.design_version
    items = parked.items if parked else stream.design_items
    event_id = (parked.event_id if parked else stream.design_event_id) or cmd.correlation_id
    if version is None:
        raise ValidationFailed(f"the stream of order {order.order_id} has no design to reprocess",
                               [Reason(loc=["design_version"], msg="no design was applied to the stream",
                                       type="no_design")])
    project = deps.store.get_projects([order.project_id]).get(order.project_id)
    if project is None:
        raise ValidationFailed(f"project {order.project_id} is not in the project master",
                               [Reason(loc=["project_id"], msg="unknown project", type="unknown_project")])
    why_not = deps.policy.why_not(project)
    if why_not is not None:
        raise ValidationFailed(f"project {order.project_id} does not qualify for orders: {why_not}",
                               [Reason(loc=["project_id"], msg=why_not, type="not_qualifying")])
    at = deps.clock.now()
    decision: Decision = apply_qualified_design(state, design_version=version, items=list(items),
                                                event_id=event_id, project=project, at=at, actor=cmd.actor)
    for effect in decision.effects:
        effect.audit = effect.audit.model_copy(update={
            "correlation_id": cmd.correlation_id,
            "reason": f"reprocessed with design version {version}" + (
                f" ({effect.audit.reason})" if effect.audit.reason else "")})
    if decision.outcome == Outcome.SKIPPED_UNCHANGED and not parked:
        return ReprocessResult(decision.outcome.value, decision.order_id, decision.reasons,
                               state.orders.get(decision.order_id or order.order_id, order))
    uow.add_decision(decision)
    _commit(deps, uow, order.order_id)
    touched = decision.order_id or order.order_id
    return ReprocessResult(decision.outcome.value, decision.order_id, decision.reasons,
                           state.orders.get(touched) or deps.store.get_order(touched))


def _dropped_from_hold(deps: Deps, record_: QuarantineRecord) -> bool:
    """The warehouse event was held on its order (so its idempotency marker
    exists) and then taken off it into quarantine: the last thing its order's
    audit says about it is `warehouse_event_quarantined`."""
    if record_.event_id is None or record_.order_id is None:
        return False
    about = [a for a in deps.store.order_audit(record_.order_id) if a.correlation_id == record_.event_id]
    return bool(about) and about[-1].action == "warehouse_event_quarantined"


def reprocess_quarantined(deps: Deps, cmd: ReprocessQuarantined) -> QuarantineReprocessResult:
    """Run a quarantined input through its original handler again. Applied:
    the record is marked reprocessed. Still refused: it stays open, with the
    reasons of this attempt."""
    record_ = deps.store.get_quarantine(cmd.record_id)
    if record_ is None:
        raise NotFound(f"quarantine record {cmd.record_id} not found")
    if record_.status != "open":
        raise NotOpen(f"quarantine record {record_.id} is {record_.status}, not open")
    from common.ingest.schema import DATASETS
    from common.service.handlers.datasets import NotReprocessable, reprocess_dataset_rows
    from common.service.handlers.engineering import ingest_engineering_events
    from common.service.handlers.warehouse import apply_warehouse_events

    if record_.source in DATASETS:
        try:
            job = reprocess_dataset_rows(deps, record_.id)
        except NotReprocessable as error:
            raise InvalidInput(str(error), [Reason(loc=["payload"], msg=str(error), type="not_reprocessable")]) \
                from error
        current = deps.store.get_quarantine(record_.id) or record_
        return QuarantineReprocessResult(record=current, results=[{"job_id": job.job_id, "counts": job.counts}])
    if record_.source == ENGINEERING_SOURCE:
        report = ingest_engineering_events(deps, IngestEngineeringEvents(
            [record_.payload], channel="quarantine", actor=cmd.actor))
    elif record_.source == WAREHOUSE_SOURCE:
        replay = frozenset({record_.event_id}) if record_.event_id and _dropped_from_hold(deps, record_) \
            else frozenset[str]()
        report = apply_warehouse_events(deps, ApplyWarehouseEvents(
            [record_.payload], channel="quarantine", actor=cmd.actor, replay=replay))
    else:
        raise InvalidInput(f"records from {record_.source} cannot be reprocessed",
                           [Reason(loc=["source"], msg=f"no reprocessing for source {record_.source}",
                                   type="unsupported_source")])
    results = [r.to_json() for r in report.results]
    applied = bool(report.results) and all(r.outcome != Outcome.QUARANTINED for r in report.results)
    current = deps.store.get_quarantine(record_.id) or record_
    if applied:
        current = deps.store.put_quarantine(current.model_copy(update={"status": "reprocessed"}))
    return QuarantineReprocessResult(record=current, results=results)


__all__ = [
    "AddItems", "ApproveOrder", "CancelOrder", "EditOrder", "LineInput", "RejectOrder", "ReprocessOrder",
    "ReprocessQuarantined", "ReprocessResult", "add_items", "approve_order", "cancel_order",
    "edit_order", "normalize_etag", "reject_order", "reprocess_order", "reprocess_quarantined",
]
