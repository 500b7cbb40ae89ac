"""People review orders: edit, add manual items, approve, reject, cancel and
reprocess (CONTRACT.md: HTTP API; DESIGN.md section 3, States).

Each command is `load -> check -> domain verb -> add -> commit` on a fresh
unit of work (the verbs are in common/domain/orders.py, the checks in
common/domain/eligibility.py). An `If-Match` ETag, when given, must be the one
the order has (else `ConcurrencyConflict`; a concurrent writer that wins the
commit gives the same). A request the order refuses (an illegal move, four
eyes, a failed check) changes nothing but leaves its refusal on the order's
audit trail (a stale ETag is not a refusal: the caller reads again).

A returned order under review (rejected by an approver, edited or given
items by a planner) starts from what its stream still needs beyond what
stays on site (`delta.still_needed`), never from its whole first delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from common.domain import orders as verbs
from common.domain.delta import Decision, Outcome, apply_qualified_design, still_needed
from common.domain.effects import Effect, refusal, same_lines
from common.domain.eligibility import Clearance, approval_reasons, four_eyes
from common.domain.errors import ConcurrencyConflict, DomainError, Forbidden, InvalidInput, NotFound, ValidationFailed
from common.domain.lifecycle import RETURNED, Action, ensure_allowed
from common.domain.models import Actor, LineSource, Order, OrderLine, Reason
from common.domain.validation import sku_reasons
from common.ports import PartitionChanges
from common.service.bootstrap import Deps
from common.service.commands import (
    AddItems,
    ApproveOrder,
    CancelOrder,
    EditOrder,
    LineInput,
    RejectOrder,
    ReprocessOrder,
)
from common.service.unit_of_work import UnitOfWork

log = logging.getLogger("oms.review")

# What a planner may change on an order besides its lines; the rest comes
# from the project master and the design and is refreshed by revisions.
EDITABLE_FIELDS = ("warehouse_id", "need_by")


@dataclass
class ReprocessResult:
    outcome: str
    order_id: str | None
    reasons: list[str]
    order: Order | None


# ------------------------------------------------------------------- helpers

def normalize_etag(value: str | None) -> str | None:
    """`If-Match` quoted or bare; `*` matches anything. A weak tag (`W/"…"`)
    is kept as it is, so it never equals a strong ETag (RFC 9110: If-Match
    compares strongly)."""
    if value is None:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def unit_of_work(deps: Deps) -> UnitOfWork:
    return UnitOfWork(deps.store, deps.inventory)


def _load(uow: UnitOfWork, order_id: str) -> Order:
    order = uow.order(order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found")
    return order


def etag_matches(etag: str | None, if_match: str | None) -> bool:
    """`If-Match` (RFC 9110 13.1.1) holds for `etag`: no header, `*`, or a
    list of entity tags one of which equals it, compared strongly (a weak
    `W/"…"` never matches). Alike on every route that takes it."""
    if if_match is None:
        return True
    tags = {normalize_etag(tag) for tag in if_match.split(",")}
    return "*" in tags or (etag is not None and etag in tags)


def _check_etag(order: Order, if_match: str | None) -> None:
    if not etag_matches(order.etag, if_match):
        raise ConcurrencyConflict(f"order {order.order_id} changed since it was read (ETag {order.etag} is current)")


def _note_refusal(deps: Deps, order: Order, action: str, actor: Actor, correlation_id: str | None,
                  error: DomainError) -> None:
    """The refused request on the order's audit trail (best effort: the
    answer to the caller is the error either way)."""
    reasons = error.reasons or [Reason(loc=[], msg=error.message, type=error.code)]
    entry = refusal(order, action=action, actor=actor, at=deps.clock.now(), reasons=reasons,
                    correlation_id=correlation_id)
    try:
        deps.store.commit([PartitionChanges(partition=order.project_id, audit=[entry])])
    except Exception:
        log.warning("could not audit the refused %s of order %s", action, order.order_id, exc_info=True)


def _act(deps: Deps, order_id: str, if_match: str | None, actor: Actor, correlation_id: str | None, action: str,
         decide: Callable[[UnitOfWork, Order], Effect | None]) -> Order:
    """Load, check the ETag, decide (None: nothing to change), commit. A
    refusal after the order was found is audited on it."""
    uow = unit_of_work(deps)
    order = _load(uow, order_id)
    try:
        _check_etag(order, if_match)
        effect = decide(uow, order)
        if effect is None:
            return order
        uow.add(effect)
        if not uow.commit().ok:
            raise ConcurrencyConflict(f"order {order_id} was changed by someone else meanwhile; read it again")
    except ConcurrencyConflict:
        raise  # a stale read, not a refusal of the request: read again and retry
    except DomainError as error:
        _note_refusal(deps, order, action, actor, correlation_id, error)
        raise
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


def _review_base(uow: UnitOfWork, order: Order) -> list[OrderLine] | None:
    """What a returned order under review starts from: what its stream still
    needs (None for an order that is not returned: its lines as they are)."""
    if order.status not in RETURNED:
        return None
    return still_needed(uow.stream_state(order.stream), order)


# ------------------------------------------------------------------ handlers

def edit_order(deps: Deps, cmd: EditOrder) -> Order:
    unknown = sorted(set(cmd.fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidInput("fields that cannot be edited", [
            Reason(loc=["body", name], msg=f"{name} is not an editable field", type="not_editable")
            for name in unknown])
    if cmd.lines is not None:
        _check_skus(deps, cmd.lines, "lines")

    def decide(uow: UnitOfWork, order: Order) -> Effect | None:
        lines = _new_lines(order.lines, cmd.lines) if cmd.lines is not None else _review_base(uow, order)
        same = all(getattr(order, k) == v for k, v in cmd.fields.items()) and (
            lines is None or same_lines(order.lines, lines))
        if same:
            ensure_allowed(order.status, Action.EDIT)  # nothing changes, but the request must still be legal
            return None
        return verbs.edit(order, actor=cmd.actor, at=deps.clock.now(), lines=lines,
                          correlation_id=cmd.correlation_id, **cmd.fields)

    return _act(deps, cmd.order_id, cmd.if_match, cmd.actor, cmd.correlation_id, Action.EDIT.value, decide)


def add_items(deps: Deps, cmd: AddItems) -> Order:
    if not cmd.items:
        raise InvalidInput("no items to add",
                           [Reason(loc=["body", "items"], msg="at least one item", type="too_short")])
    _check_skus(deps, cmd.items, "items")
    items = [OrderLine(line_no=n, sku=i.sku, qty=i.qty, uom=i.uom, source=LineSource.MANUAL)
             for n, i in enumerate(cmd.items, start=1)]
    return _act(deps, cmd.order_id, cmd.if_match, cmd.actor, cmd.correlation_id, "add_items",
                lambda uow, order: verbs.add_items(order, items, actor=cmd.actor, at=deps.clock.now(),
                                                   base=_review_base(uow, order), correlation_id=cmd.correlation_id))


def approve_order(deps: Deps, cmd: ApproveOrder) -> Order:
    def decide(uow: UnitOfWork, order: Order) -> Effect:
        ensure_allowed(order.status, Action.APPROVE)
        refused = four_eyes(order, cmd.actor, deps.settings.four_eyes)
        if refused is not None:
            raise Forbidden(refused.msg, [refused])
        project = deps.store.get_projects([order.project_id]).get(order.project_id)
        catalog = deps.store.get_catalog([line.sku for line in order.lines])
        stream = uow.stream_state(order.stream).stream
        reasons = approval_reasons(order, project, catalog, stream, Clearance(deps.settings.require_clearance))
        if reasons:
            raise ValidationFailed(f"order {order.order_id} cannot be approved", reasons)
        return verbs.approve(order, actor=cmd.actor, at=deps.clock.now(), comment=cmd.comment,
                             correlation_id=cmd.correlation_id)

    return _act(deps, cmd.order_id, cmd.if_match, cmd.actor, cmd.correlation_id, Action.APPROVE.value, decide)


def reject_order(deps: Deps, cmd: RejectOrder) -> Order:
    if not cmd.reason.strip():
        raise InvalidInput("a reason is required", [Reason(loc=["body", "reason"], msg="must not be empty")])
    return _act(deps, cmd.order_id, cmd.if_match, cmd.actor, cmd.correlation_id, Action.REJECT.value,
                lambda uow, order: verbs.reject(order, reason=cmd.reason, actor=cmd.actor, at=deps.clock.now(),
                                                lines=_review_base(uow, order), correlation_id=cmd.correlation_id))


def cancel_order(deps: Deps, cmd: CancelOrder) -> Order:
    return _act(deps, cmd.order_id, cmd.if_match, cmd.actor, cmd.correlation_id, Action.CANCEL.value,
                lambda _uow, order: verbs.cancel(order, actor=cmd.actor, at=deps.clock.now(), reason=cmd.reason,
                                                 correlation_id=cmd.correlation_id))


def reprocess_order(deps: Deps, cmd: ReprocessOrder) -> ReprocessResult:
    """Run the delta rules for the order's stream again with the latest data:
    the newest design kept on the stream (a parked one once the project
    qualifies) and the project master as it is now."""
    uow = unit_of_work(deps)
    order = _load(uow, cmd.order_id)
    _check_etag(order, cmd.if_match)
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
    decision: Decision = apply_qualified_design(state, design_version=version, items=list(items),
                                                event_id=event_id, project=project, at=deps.clock.now(),
                                                actor=cmd.actor, keep_manual=deps.settings.keep_manual_lines)
    for effect in decision.effects:
        effect.audit = effect.audit.model_copy(update={
            "correlation_id": cmd.correlation_id,
            "reason": f"reprocessed with design version {version}" + (
                f" ({effect.audit.reason})" if effect.audit.reason else "")})
    if decision.outcome == Outcome.SKIPPED_UNCHANGED and not parked:
        return ReprocessResult(decision.outcome.value, decision.order_id, decision.reasons,
                               state.orders.get(decision.order_id or order.order_id, order))
    uow.add_decision(decision)
    if not uow.commit().ok:
        raise ConcurrencyConflict(f"order {order.order_id} was changed by someone else meanwhile; read it again")
    touched = decision.order_id or order.order_id
    return ReprocessResult(decision.outcome.value, decision.order_id, decision.reasons,
                           state.orders.get(touched) or deps.store.get_order(touched))


__all__ = [
    "AddItems", "ApproveOrder", "CancelOrder", "EditOrder", "LineInput", "RejectOrder", "ReprocessOrder",
    "ReprocessResult", "add_items", "approve_order", "cancel_order", "edit_order", "normalize_etag",
    "reject_order", "reprocess_order", "unit_of_work",
]
