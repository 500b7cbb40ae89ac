"""EvaluateReplenishment: reorder thresholds watched after every stock change
(DESIGN.md section 3, Replenishment; the rules are common/domain/replenishment.py).

Called after a warehouse batch that moved stock (`StockAdjusted`, returns),
a stock snapshot, an allocation run, a project-master or reorder-policy
load, and on the sweep timer. One evaluation reads the watched policies (the
`reorder-policy` dataset, and the settings' defaults per SKU class for stock
rows without one), the stock, the open requests and the demand of the open
orders not yet allocated (Draft and Approved), then decides each (warehouse,
SKU) and commits each change with its audit entry and event.

Why it cannot duplicate a request: a request's id is its (warehouse, SKU)
and a sequence number one past the key's last request; a create is
insert-only, so of two evaluations opening the same request one conflicts,
reads the key again and finds the request open (then at most raises it).
Changes to an open request carry its ETag.

An evaluation that fails never fails what triggered it (`replenish_after`):
the stock change is committed already, and the next evaluation (at the
latest the timer's) decides from the data as it is then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common.domain.delta import Outcome
from common.domain.eligibility import warehouse_of
from common.domain.models import Order, OrderStatus, StockRow
from common.domain.replenishment import (
    DemandLine,
    Position,
    ReorderPolicy,
    ReplenishmentRequest,
    RequestChange,
    RequestStatus,
    decide,
    default_policy,
    demand_by_key,
    request_summary,
    sku_class,
)
from common.domain.warehouse_inbound import ReturnReceived, StockAdjusted
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import EvaluateReplenishment
from common.service.handlers.batch import EventResult
from common.service.jobs import job_run
from common.service.paging import every
from common.service.retry import CONFLICTED, Conflicted, retry_conflict

log = logging.getLogger("oms.replenishment")

PAGE = 1000
ATTEMPTS = 3  # a key whose request keeps changing under other evaluations is left to the next one
OPEN_DEMAND = (OrderStatus.DRAFT, OrderStatus.APPROVED)
TIMER = "timer"
Key = tuple[str, str]


@dataclass
class ReplenishmentReport:
    trigger: str
    evaluated: int = 0
    changes: list[RequestChange] = field(default_factory=list)
    conflicts: list[Key] = field(default_factory=list)

    def ids(self, kind: str) -> list[str]:
        return [c.request.request_id for c in self.changes if c.kind == kind]

    def counts(self) -> dict[str, int]:
        return {"evaluated": self.evaluated, "opened": len(self.ids("opened")), "raised": len(self.ids("raised")),
                "fulfilled": len(self.ids("fulfilled")), "conflicts": len(self.conflicts)}

    def to_json(self) -> dict[str, Any]:
        return {"trigger": self.trigger, **self.counts(), "opened_ids": self.ids("opened"),
                "raised_ids": self.ids("raised"), "fulfilled_ids": self.ids("fulfilled")}


# ------------------------------------------------------------------ reads
def watched_policies(deps: Deps, rows: Iterable[StockRow],
                     stored: Iterable[ReorderPolicy] | None = None) -> dict[Key, ReorderPolicy]:
    """The dataset's policies (`stored`, read when not given), and the
    settings' default of each stock row's SKU class where the dataset has none."""
    policies = {p.key: p for p in (deps.store.reorder_policies() if stored is None else stored)}
    defaults = deps.settings.reorder_defaults
    if not defaults:
        return policies
    missing = [(r.warehouse_id, r.sku) for r in rows if (r.warehouse_id, r.sku) not in policies]
    catalog = deps.store.get_catalog(list({sku for _, sku in missing}))
    for warehouse, sku in missing:
        item = catalog.get(sku)
        chosen = default_policy(warehouse, sku, sku_class(sku, item.model_extra if item else None), defaults)
        if chosen is not None:
            policies[(warehouse, sku)] = chosen
    return policies


def open_orders(deps: Deps) -> list[Order]:
    """Orders not allocated yet whose lines are still to be served: Draft and Approved."""
    return [order for status in OPEN_DEMAND for order in every(
        lambda token, s=status: deps.store.query_orders(OrderQuery(status=s.value, limit=PAGE,  # type: ignore[misc]
                                                                   continuation=token)))]


def demand_lines(deps: Deps, orders: Iterable[Order]) -> list[DemandLine]:
    orders = list(orders)
    homeless = {o.project_id for o in orders if o.warehouse_id is None}
    projects = deps.store.get_projects(list(homeless)) if homeless else {}
    lines: list[DemandLine] = []
    for order in orders:
        warehouse = warehouse_of(order, projects.get(order.project_id))
        if warehouse is None:
            continue  # no warehouse, no position to draw on (allocation sends it back to Draft)
        lines.extend(DemandLine(warehouse, sku, qty, order.need_by) for sku, qty in order.quantities().items())
    return lines


def positions(deps: Deps, policies: dict[Key, ReorderPolicy], rows: Iterable[StockRow]) -> dict[Key, Position]:
    """The projected position of every watched key (without its open request)."""
    stock = {(r.warehouse_id, r.sku): r for r in rows}
    demand = demand_by_key(demand_lines(deps, open_orders(deps)), policies, deps.clock.now().date(),
                           deps.settings.replenishment_need_by_weighting)
    out = {}
    for key in policies:
        row = stock.get(key)
        units, orders = demand.get(key, (0, 0))
        out[key] = Position(on_hand=row.on_hand if row else 0, reserved=row.reserved if row else 0, demand=units,
                            orders=orders)
    return out


def _open_by_key(requests: Iterable[ReplenishmentRequest]) -> dict[Key, ReplenishmentRequest]:
    return {r.key: r for r in requests if r.status == RequestStatus.OPEN}


def _terms_of(request: ReplenishmentRequest) -> ReorderPolicy:
    return ReorderPolicy(warehouse_id=request.warehouse_id, sku=request.sku, reorder_point=request.reorder_point,
                         target_level=request.target_level, lead_time_days=request.lead_time_days,
                         source=request.policy_source)


# ---------------------------------------------------------------- handler
def evaluate_replenishment(deps: Deps, cmd: EvaluateReplenishment) -> ReplenishmentReport:
    """One evaluation (see the module docstring); nothing at all when no
    policy applies (no dataset rows, no defaults)."""
    report = ReplenishmentReport(cmd.trigger)
    stored = deps.store.reorder_policies()
    if not stored and not deps.settings.reorder_defaults and cmd.trigger != TIMER:
        return report  # the common case on every warehouse batch: one small read
    open_requests = _open_by_key(deps.store.replenishment_requests(status=RequestStatus.OPEN.value))
    rows = deps.inventory.stock()
    policies = watched_policies(deps, rows, stored)
    for key, request in open_requests.items():
        # A request outlives its policy (gone from the dataset): it keeps the
        # terms it was opened with until stock closes it.
        policies.setdefault(key, _terms_of(request))
    if cmd.keys is not None:
        policies = {k: p for k, p in policies.items() if k in cmd.keys}
    if not policies:
        return report
    current = positions(deps, policies, rows)
    for key in sorted(policies):
        report.evaluated += 1
        change = _settle(deps, cmd, policies[key], current[key], open_requests.get(key))
        if change is None:
            continue
        if isinstance(change, RequestChange):
            report.changes.append(change)
        else:
            report.conflicts.append(key)
    if report.changes:
        _tell(deps, report)
    if report.conflicts:
        log.warning("replenishment: %d keys kept changing under other evaluations: %s", len(report.conflicts),
                    report.conflicts[:20])
    return report


def _settle(deps: Deps, cmd: EvaluateReplenishment, policy: ReorderPolicy, position: Position,
            request: ReplenishmentRequest | None) -> RequestChange | bool | None:
    """Decide one key and commit; on a conflict read the key again and decide
    again (`retry_conflict`). The change written, None for none, False when
    it kept conflicting."""
    next_seq: int | None = None

    def attempt() -> RequestChange | Conflicted | None:
        nonlocal request, next_seq
        if request is None and next_seq is None:
            # About to open one: the key's whole history, read now, names the
            # next number and shows a request another evaluation opened since
            # the open requests were read.
            request, next_seq = _key_now(deps, policy.key)
        change = decide(policy, position, request, next_seq=next_seq or 1, now=deps.clock.now(), actor=cmd.actor,
                        trigger=cmd.trigger, correlation_id=cmd.correlation_id, arrived=policy.key in cmd.arrived)
        if change is None:
            return None
        if deps.store.commit_replenishment(change) is None:
            return change
        request, next_seq = _key_now(deps, policy.key)
        return CONFLICTED

    written = retry_conflict(attempt, what=f"replenishment of {policy.key}", attempts=ATTEMPTS)
    return False if written is CONFLICTED else written


def _key_now(deps: Deps, key: Key) -> tuple[ReplenishmentRequest | None, int]:
    """The key's open request as stored now, and the number its next request takes."""
    history = deps.store.replenishment_requests(*key)
    return _open_by_key(history).get(key), max((r.seq for r in history), default=0) + 1


def _tell(deps: Deps, report: ReplenishmentReport) -> None:
    """One message per evaluation that changed something (mail, webhook, log)."""
    words = {"opened": "requested", "raised": "raised", "fulfilled": "fulfilled"}
    counts = report.counts()
    summary = ", ".join(f"{counts[kind]} {word}" for kind, word in words.items() if counts[kind])
    lines = [f"Replenishment after: {report.trigger}", ""]
    for change in report.changes:
        r = change.request
        if change.kind == "fulfilled":
            lines.append(f"  fulfilled  {r.sku} in {r.warehouse_id}: {r.quantity} requested, "
                         f"closed after {(r.duration_seconds or 0) / 3600:.1f} h ({r.request_id})")
        else:
            lines.append(f"  {words[change.kind]:<10} {r.sku} in {r.warehouse_id}: {r.quantity} to reach "
                         f"{r.target_level} (position {r.position.get('projected')} with it, reorder point "
                         f"{r.reorder_point}), due {r.due_at.date().isoformat()} ({r.request_id})")
    level = "warning" if counts["opened"] or counts["raised"] else "info"
    deps.notifier.notify(f"[OMS] replenishment: {summary}", "\n".join(lines), level=level,
                         data={"trigger": report.trigger, "requests": [
                             {**request_summary(c.request), "change": c.kind} for c in report.changes]})


def replenish_after(deps: Deps, cmd: EvaluateReplenishment) -> ReplenishmentReport | None:
    """Evaluate after a change that is committed already: a failure is
    logged, never raised (the next evaluation decides again)."""
    try:
        return evaluate_replenishment(deps, cmd)
    except Exception:
        log.exception("replenishment evaluation after %s failed; the next one decides again", cmd.trigger)
        return None


def after_warehouse_batch(deps: Deps, events: Sequence[tuple[int, Any]], results: Sequence[EventResult | None],
                          job_id: str) -> ReplenishmentReport | None:
    """After a warehouse batch in which stock moved (a `StockAdjusted` or a
    return taken, even a redelivered one: the last evaluation may not have
    run), never raising. Stock came in for a positive adjustment's key and
    for each returned SKU in its order's warehouse."""
    moved = [event for index, event in events if isinstance(event, StockAdjusted | ReturnReceived)
             and (result := results[index]) is not None and result.outcome != Outcome.QUARANTINED]
    if not moved:
        return None
    arrived = {(e.warehouse_id, e.sku) for e in moved if isinstance(e, StockAdjusted) and e.delta > 0}
    returns = [e for e in moved if isinstance(e, ReturnReceived)]
    if returns:
        orders = deps.store.get_orders([e.order_id for e in returns])
        arrived |= {(order.warehouse_id, item.sku) for e in returns if (order := orders.get(e.order_id))
                    and order.warehouse_id for item in e.items}
    return replenish_after(deps, EvaluateReplenishment("warehouse_events", correlation_id=job_id,
                                                       arrived=frozenset(arrived)))


def sweep_replenishment(deps: Deps) -> ReplenishmentReport | None:
    """The timer's evaluation, as a job run of its own when anything is
    watched (a policy, a default, or an open request whose policy is gone)."""
    if (not deps.store.reorder_policies() and not deps.settings.reorder_defaults
            and not deps.store.replenishment_requests(status=RequestStatus.OPEN.value)):
        return None
    with job_run(deps, "replenishment", TIMER) as recorder:
        report = evaluate_replenishment(deps, EvaluateReplenishment(TIMER, correlation_id=recorder.run.job_id))
        for name, value in report.counts().items():
            recorder.count(name, value)
        recorder.count("created", len(report.ids("opened")))
        recorder.count("modified", len(report.ids("raised")) + len(report.ids("fulfilled")))
        recorder.details["replenishment"] = report.to_json()
    return report
