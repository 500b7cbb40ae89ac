"""The SLA sweep: flag each new SLA breach once, atomically with its audit
entry and its `oms.order.sla_breached` event, and tell people in a summary.
The same sweep alerts on job runs that have been running too long.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from common.domain import orders as verbs
from common.domain.ids import project_of
from common.domain.models import SYSTEM, JobRun, Order, OrderStatus
from common.domain.sla import Breach, new_breaches, state_key
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.incidents import catch_up_dead_letters, on_sla_breaches
from common.service.jobs import JobRecorder, abandon_dead_jobs, alert_overdue_jobs, job_run
from common.service.paging import every
from common.service.retry import retry_conflicts
from common.service.unit_of_work import UnitOfWork
from common.telemetry import correlate

log = logging.getLogger("oms.sla")

BATCH = 500  # orders flagged per commit
LISTED = 50  # breaches listed in the notification; the job run's details hold the counts


def _sla_statuses(deps: Deps) -> list[OrderStatus]:
    return [s for s in OrderStatus if deps.settings.sla_hours.get(s.value) or s == OrderStatus.RELEASED]


def _orders_with_slas(deps: Deps, now: datetime) -> Iterator[Order]:
    """Every order that can be in a breach at `now`: in a status with an SLA,
    only those in it longer than its limit (read through the stores' entry-time
    index: a younger one is in no state-age breach), and every Released order
    (its need-by date may have passed). Orders in a returned state stay there
    and pile up: reading them all, every sweep, made a long run's sweeps grow
    with everything it had ever returned; and past its limit, such an order
    was mostly flagged by an earlier sweep already: its document says so
    (`_flagged_already`) without the order being built."""
    for status in _sla_statuses(deps):
        limit = deps.settings.sla_hours.get(status.value)
        if status == OrderStatus.RELEASED or not limit or limit <= 0:
            yield from every(lambda token, s=status: deps.store.query_orders(  # type: ignore[misc]
                OrderQuery(status=s.value, limit=1000, continuation=token)))
            continue
        past = {status.value: now - timedelta(hours=limit)}
        for doc in every(lambda token, s=status, e=past: deps.store.query_order_docs(  # type: ignore[misc]
                OrderQuery(status=s.value, entered_before=e, limit=1000, continuation=token))):
            if not _flagged_already(status, doc):
                yield Order.model_validate(doc)


def _flagged_already(status: OrderStatus, doc: dict[str, Any]) -> bool:
    """Whether the one breach an order in `status` (not Released: no need-by
    breach) can be in is flagged on it already, read from its stored document
    (fields at their defaults left out): the key `state_key` gives for when it
    entered the status (`entered_at`: status_since, else created_at) is in
    its sla_breached. Such an order has no new breach."""
    flagged = doc.get("sla_breached")
    if not flagged:
        return False
    since = datetime.fromisoformat(doc.get("status_since") or doc["created_at"])
    return state_key(status, since) in flagged


def _in_sla_statuses(deps: Deps) -> int:
    """How many orders the sweep looks after (its `scanned` count): every
    order in a status with an SLA, counted through the status index."""
    counts = deps.store.count_orders(OrderQuery())
    return sum(counts.get(s.value, 0) for s in _sla_statuses(deps))


def _flag(uow: UnitOfWork, order: Order, breaches: list[Breach], recorder: JobRecorder) -> None:
    reason = "; ".join(
        f"{b.status.value} for {b.age_hours:.0f} h (SLA {b.limit_hours:g} h)" if b.kind == "state_age"
        else f"material not on site by need-by {b.due.date().isoformat()}" for b in breaches)
    uow.add(verbs.flag_sla(
        order, [b.key for b in breaches], reason=reason, actor=SYSTEM, at=recorder.deps.clock.now(),
        correlation_id=recorder.run.job_id,
        sla={"breaches": [{"key": b.key, "kind": b.kind, "status": b.status.value, "since": b.since.isoformat(),
                           "due": b.due.isoformat(), "age_hours": round(b.age_hours, 2),
                           "limit_hours": b.limit_hours} for b in breaches]},
        breached_status=breaches[0].status.value))


def _flag_batch(deps: Deps, batch: dict[str, list[Breach]], recorder: JobRecorder) -> list[str]:
    """Flag a batch; returns the order ids flagged (re-checked against a fresh
    read when a partition lost to a concurrent writer; one still losing after
    the last attempt is flagged by the next sweep, counted as a conflict)."""
    flagged: list[str] = []

    def attempt(pending: Sequence[str]) -> list[str]:
        uow = UnitOfWork(deps.store, deps.inventory)
        orders = uow.orders(pending)
        tried: dict[str, list[Breach]] = {}
        for order_id in pending:
            order = orders.get(order_id)
            if order is None:
                continue
            # Re-check against what is stored now: it may have moved or been flagged meanwhile.
            keys = {x.key for x in batch[order_id]}
            still = [b for b in new_breaches([order], recorder.deps.clock.now(), deps.settings.sla_hours)
                     if b.key in keys]
            if still:
                with correlate(order_id=order_id):
                    _flag(uow, order, still, recorder)
                tried[order_id] = still
        recorder.step = "commit"
        conflicts = uow.commit().conflicts
        for order_id, breaches in tried.items():
            if project_of(order_id) not in conflicts:
                flagged.append(order_id)
                for b in breaches:
                    recorder.count(f"breached_{b.status.value}" if b.kind == "state_age" else "breached_need_by")
        return [o for o in tried if project_of(o) in conflicts]

    left = retry_conflicts(list(batch), attempt, what="SLA flags")
    if left:
        recorder.count("conflicts", len(left))
    return flagged


def _summary(breaches: list[Breach]) -> str:
    by_state = Counter(b.status.value if b.kind == "state_age" else "need_by (material on site)" for b in breaches)
    lines = [f"{len(breaches)} new SLA breach(es):"]
    lines += [f"  {name:<28} {n:>6}" for name, n in by_state.most_common()]
    lines += ["", "Oldest first:"]
    for b in breaches[:LISTED]:
        what = f"in {b.status.value} {b.age_hours:.0f} h (SLA {b.limit_hours:g} h)" if b.kind == "state_age" \
            else f"Released, need-by passed {b.overdue_hours:.0f} h ago"
        lines.append(f"  - {b.order_id}: {what}")
    if len(breaches) > LISTED:
        lines.append(f"  ... and {len(breaches) - LISTED} more (GET /api/metrics/flow)")
    return "\n".join(lines)


def sweep_sla(deps: Deps) -> JobRun:
    """One sweep: flag new breaches, alert on overdue job runs, notify a summary."""
    with job_run(deps, "sla-sweep", "timer") as recorder:
        recorder.step = "abandoned jobs"
        recorder.count("abandoned_jobs", len(abandon_dead_jobs(deps)))
        recorder.step = "overdue jobs"
        overdue = alert_overdue_jobs(deps)
        recorder.count("overdue_jobs", len(overdue))
        recorder.step = "dead-letter incidents"
        recorder.count("incidents", len(catch_up_dead_letters(deps)))  # written while the store was down: none
        recorder.step = "purge"
        for kind, n in deps.store.purge_expired(deps.clock.now()).items():  # Cosmos DB: TTL does it
            recorder.count(f"purged_{kind}", n)
        recorder.step = "scan"
        now = deps.clock.now()
        found: list[Breach] = []
        for order in _orders_with_slas(deps, now):
            found.extend(new_breaches([order], now, deps.settings.sla_hours))
        recorder.count("scanned", _in_sla_statuses(deps))
        by_order: dict[str, list[Breach]] = {}
        for breach in found:
            by_order.setdefault(breach.order_id, []).append(breach)
        recorder.step = "flag"
        flagged: set[str] = set()
        ids = list(by_order)
        for start in range(0, len(ids), BATCH):
            chunk = {i: by_order[i] for i in ids[start:start + BATCH]}
            flagged.update(_flag_batch(deps, chunk, recorder))
        done = [b for b in found if b.order_id in flagged]
        recorder.count("modified", len(flagged))
        recorder.count("flagged", len(done))
        recorder.details["breaches_by_state"] = dict(Counter(b.status.value if b.kind == "state_age"
                                                             else "need_by" for b in done))
        if done:
            deps.notifier.notify(f"[OMS] SLA: {len(done)} new breach(es)", _summary(done), level="warning",
                                 data={"job_id": recorder.run.job_id, "by_state": recorder.details["breaches_by_state"],
                                       "orders": [b.order_id for b in done[:LISTED]]})
            recorder.step = "incidents"
            waves = on_sla_breaches(deps, done, recorder.run.job_id)  # a market over its threshold: an incident
            recorder.count("incidents", len(waves))
    return recorder.run
