"""The order-flow metrics as they were computed before the flow counters: a
full pass over every order and over the audit window on each call. The tests
hold `flow_metrics` (counters plus bounded index reads) to the same answer."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from common.domain.models import AuditEntry, Order, OrderStatus
from common.domain.sla import age_hours, breaches_of
from common.ports import OrderQuery, Store
from common.service.handlers.metrics import OLDEST_SHOWN, percentile
from common.service.paging import all_audit, every


def all_orders(store: Store) -> list[Order]:
    return list(every(lambda token: store.query_orders(OrderQuery(limit=1000, continuation=token))))


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


def full_scan(store: Store, now: datetime, sla: dict[str, float], days: int = 14) -> dict[str, Any]:
    """The order and audit parts of GET /api/metrics/flow (jobs and quarantine
    are read the same way by both), computed from every document."""
    orders = all_orders(store)
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
            "status": status.value, "count": len(values), "by_kind": dict(by_state_kind.get(status.value, {})),
            "sla_hours": sla.get(status.value),
            "age_hours": {"median": round(percentile(values, 50), 1), "p90": round(percentile(values, 90), 1),
                          "max": round(max(values), 1) if values else 0.0},
            "breaching": breaching.get(status.value, 0), "flagged": flagged.get(status.value, 0),
        })
    waiting = [s for s in states if s["sla_hours"] and s["count"]]
    bottleneck = max(waiting, key=lambda s: (s["age_hours"]["median"], s["age_hours"]["p90"]), default=None)
    since = datetime.combine((now - timedelta(days=days)).date(), datetime.min.time(), tzinfo=now.tzinfo)
    entries = all_audit(store, since=since)
    return {
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
    }


def same_as_full_scan(metrics: dict[str, Any], store: Store, now: datetime, sla: dict[str, float],
                      days: int = 14) -> None:
    expected = full_scan(store, now, sla, days)
    got = {key: metrics[key] for key in expected}
    for key in expected:
        assert got[key] == expected[key], key
