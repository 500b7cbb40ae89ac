"""The order-flow metrics behind the dashboard (`GET /api/metrics/flow`):
orders by state and kind, ages per state against the SLA with the breaches,
throughput per day from the audit trail, where orders wait longest (the
bottleneck), recent job runs and the quarantine.

One pass over each source through the Store port: the orders (paged), the
audit entries of the window, the recent job runs and the open quarantine.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from common.domain.models import AuditEntry, Order, OrderStatus
from common.domain.sla import age_hours, breaches_of
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.paging import all_audit, all_quarantine, every

PAGE = 1000
OLDEST_SHOWN = 20


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def _all_orders(deps: Deps) -> list[Order]:
    return list(every(lambda token: deps.store.query_orders(OrderQuery(limit=PAGE, continuation=token))))


def _throughput(entries: list[AuditEntry], since: datetime, days: int) -> list[dict[str, Any]]:
    created: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    for entry in entries:
        day = entry.at.date().isoformat()
        if entry.from_status is None and entry.to_status is not None:
            created[day] += 1
        elif entry.to_status == OrderStatus.CLOSED and entry.from_status != OrderStatus.CLOSED:
            closed[day] += 1
    first = since.date()
    return [{"day": (d := (first + timedelta(days=i)).isoformat()), "created": created[d], "closed": closed[d]}
            for i in range(days + 1)]


def flow_metrics(deps: Deps, days: int = 14, jobs: int = 10, quarantined: int = 10) -> dict[str, Any]:
    now = deps.clock.now()
    sla = deps.settings.sla_hours
    orders = _all_orders(deps)

    ages: dict[str, list[float]] = defaultdict(list)
    by_kind: Counter[str] = Counter()
    by_state_kind: dict[str, Counter[str]] = defaultdict(Counter)
    breaching: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    oldest: list[dict[str, Any]] = []
    holds: list[dict[str, Any]] = []
    for order in orders:
        if order.engineering_hold is not None:
            holds.append({"order_id": order.order_id, "project_id": order.project_id, "status": order.status.value,
                          "at": order.engineering_hold.at.isoformat(),
                          "failed_checks": order.engineering_hold.failed_checks})
        status = order.status.value
        ages[status].append(age_hours(order, now))
        by_kind[order.kind.value] += 1
        by_state_kind[status][order.kind.value] += 1
        flagged[status] += sum(1 for key in order.sla_breached if key.startswith(f"{status}@"))
        for breach in breaches_of(order, now, sla):
            label = status if breach.kind == "state_age" else "need_by"
            breaching[label] += 1
            oldest.append({"order_id": order.order_id, "project_id": order.project_id, "status": status,
                           "kind": breach.kind, "age_hours": round(breach.age_hours, 1),
                           "sla_hours": breach.limit_hours, "overdue_hours": round(breach.overdue_hours, 1),
                           "flagged": breach.key in order.sla_breached})
    oldest.sort(key=lambda b: -b["overdue_hours"])

    states: list[dict[str, Any]] = []
    for status in OrderStatus:
        values = ages.get(status.value, [])
        states.append({
            "status": status.value,
            "count": len(values),
            "by_kind": dict(by_state_kind.get(status.value, {})),
            "sla_hours": sla.get(status.value),
            "age_hours": {"median": round(percentile(values, 50), 1), "p90": round(percentile(values, 90), 1),
                          "max": round(max(values), 1) if values else 0.0},
            "breaching": breaching.get(status.value, 0),
            "flagged": flagged.get(status.value, 0),
        })
    # Orders wait in the states that have an SLA; Closed and Cancelled are where they end.
    waiting = [s for s in states if s["sla_hours"] and s["count"]]
    bottleneck = max(waiting, key=lambda s: (s["age_hours"]["median"], s["age_hours"]["p90"]), default=None)

    since = datetime.combine((now - timedelta(days=days)).date(), datetime.min.time(), tzinfo=now.tzinfo)
    entries = all_audit(deps.store, since=since)

    open_quarantine = all_quarantine(deps.store, "open")
    by_source = Counter(r.source for r in open_quarantine)
    return {
        "generated_at": now.isoformat(),
        "window_days": days,
        "total_orders": len(orders),
        "by_kind": dict(by_kind),
        "states": states,
        "breaches": {"open": sum(breaching.values()), "by_state": dict(breaching),
                     "flagged": sum(len(o.sla_breached) for o in orders), "oldest": oldest[:OLDEST_SHOWN]},
        "throughput": _throughput(entries, since, days),
        "engineering_holds": {"count": len(holds), "orders": sorted(holds, key=lambda h: h["at"])[:OLDEST_SHOWN]},
        "bottleneck": None if bottleneck is None else {
            "status": bottleneck["status"], "count": bottleneck["count"],
            "median_age_hours": bottleneck["age_hours"]["median"], "p90_age_hours": bottleneck["age_hours"]["p90"],
            "sla_hours": bottleneck["sla_hours"]},
        "jobs": [{"job_id": j.job_id, "job": j.job, "source": j.source, "status": j.status,
                  "started_at": j.started_at.isoformat(), "ended_at": j.ended_at.isoformat() if j.ended_at else None,
                  "counts": {k: v for k, v in j.counts.items() if v}, "error": j.error}
                 for j in deps.store.list_jobs(jobs)],
        "quarantine": {"open": len(open_quarantine), "by_source": dict(by_source),
                       "recent": [{"id": r.id, "source": r.source, "received_at": r.received_at.isoformat(),
                                   "event_id": r.event_id, "attempts": r.attempts,
                                   "reason": r.reasons[0].msg if r.reasons else ""}
                                  for r in open_quarantine[:quarantined]]},
    }
