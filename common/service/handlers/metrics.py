"""The order-flow metrics behind the dashboard (`GET /api/metrics/flow`):
orders by state and kind, ages per state against the SLA with the breaches,
throughput per day from the audit trail, where orders wait longest (the
bottleneck), recent job runs and the quarantine.

Nothing here re-reads history. The counts are the flow counters the stores
keep in the same atomic write as every order change (common/domain/flow.py),
summed on read. What needs single orders is read through an index and
bounded by one day of entries into a state: a percentile of the ages is the
k-th newest entry, found by walking the per-day counts to its day and reading
that day's entry times; the SLA breaches of a state are the days wholly past
its limit plus the part of one day; the most overdue are the first entries of
each state (and the earliest need-by dates), read with their orders.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from common.domain.models import OrderStatus
from common.domain.sla import breaches_of, need_by_deadline
from common.ports import Store
from common.service.bootstrap import Deps
from common.service.paging import all_quarantine

OLDEST_SHOWN = 20


def nearest_rank(n: int, q: float) -> int:
    """The 1-based nearest rank of percentile q (0..100) among n values."""
    return int(max(1, -(-n * q // 100)))  # ceil without floats drifting


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `values`; 0 for none."""
    if not values:
        return 0.0
    return sorted(values)[nearest_rank(len(values), q) - 1]


def _hours(now: datetime, since: datetime) -> float:
    return max(0.0, (now - since).total_seconds() / 3600)  # common.domain.sla.age_hours


def _day_start(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC)


class _Entries:
    """Entry times of the orders in each state, per UTC day (the flow
    counters), with one day's times read from the store when needed."""

    def __init__(self, store: Store, days: dict[str, dict[str, int]]) -> None:
        self.store, self.days = store, days
        self._read: dict[tuple[str, str], list[datetime]] = {}
        self._newest_first = {status: sorted(counts.items(), reverse=True) for status, counts in days.items()}

    def on(self, status: str, day: str) -> list[datetime]:
        key = (status, day)
        if key not in self._read:
            start = _day_start(day)
            self._read[key] = [at for at, _ in self.store.orders_entered(status, start, start + timedelta(days=1))]
        return self._read[key]

    def newest(self, status: str, k: int) -> datetime:
        """The k-th newest entry (1-based) into `status`: found in its day by
        the index (the day's n entries, oldest first, skipping n - k')."""
        seen = 0
        for day, n in self._newest_first[status]:
            if seen + n >= k:
                start = _day_start(day)
                found = self.store.orders_entered(status, start, start + timedelta(days=1), limit=1,
                                                  offset=n - (k - seen))
                return found[0][0]
            seen += n
        raise LookupError(f"{status} holds fewer than {k} orders")

    def before(self, status: str, cutoff: datetime) -> int:
        """How many orders entered `status` before `cutoff`."""
        cut_day = cutoff.astimezone(UTC).date().isoformat()
        whole = sum(n for day, n in self.days[status].items() if day < cut_day)
        if cut_day in self.days[status]:
            whole += sum(1 for at in self.on(status, cut_day) if at < cutoff)
        return whole


def _most_overdue(store: Store, now: datetime, sla: dict[str, float],
                  breaching: Counter[str]) -> list[dict[str, Any]]:
    """The orders that can hold the OLDEST_SHOWN most overdue breaches (by
    overdue hours as shown, rounded, then order id): per state, its first
    entries past the limit and every order tied with the last of them; the
    earliest need-by dates."""
    ids: set[str] = set()
    for status, limit in sla.items():
        if not limit or limit <= 0 or not breaching.get(status):
            continue
        cutoff = now - timedelta(hours=limit)
        first = store.orders_entered(status, end=cutoff, limit=OLDEST_SHOWN)
        ids.update(oid for _, oid in first)
        if len(first) == OLDEST_SHOWN:
            shown = round(_hours(now, first[-1][0]) - limit, 1)
            # Entries whose overdue hours round to the same figure (a few
            # minutes' worth), ordered by id: the ties the list breaks by id.
            lo = now - timedelta(hours=limit + shown + 0.06)
            hi = min(cutoff, now - timedelta(hours=limit + shown - 0.06))
            ids.update(oid for at, oid in store.orders_entered(status, lo, hi, by_id=True)
                       if round(_hours(now, at) - limit, 1) == shown)
    if breaching.get("need_by"):
        ids.update(oid for day, oid in store.released_by_need_by(OLDEST_SHOWN) if need_by_deadline(day) <= now)
    oldest: list[dict[str, Any]] = []
    for _, order in sorted(store.get_orders(sorted(ids)).items()):
        for breach in breaches_of(order, now, sla):
            oldest.append({"order_id": order.order_id, "project_id": order.project_id, "status": order.status.value,
                           "kind": breach.kind, "age_hours": round(breach.age_hours, 1),
                           "sla_hours": breach.limit_hours, "overdue_hours": round(breach.overdue_hours, 1),
                           "flagged": breach.key in order.sla_breached})
    oldest.sort(key=lambda b: -b["overdue_hours"])  # stable: ties stay by order id, state age first
    return oldest[:OLDEST_SHOWN]


def flow_metrics(deps: Deps, days: int = 14, jobs: int = 10, quarantined: int = 10) -> dict[str, Any]:
    now = deps.clock.now()
    sla = deps.settings.sla_hours
    store = deps.store
    counts = store.flow_counts()

    by_state_kind: dict[str, Counter[str]] = defaultdict(Counter)
    entered: dict[str, dict[str, int]] = defaultdict(dict)
    need_by: dict[str, int] = {}
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for key, n in counts.items():
        kind, _, rest = key.partition("|")
        if kind == "state":
            status, _, order_kind = rest.partition("|")
            by_state_kind[status][order_kind] += n
        elif kind == "entered":
            status, _, day = rest.partition("|")
            entered[status][day] = n
        elif kind == "need_by":
            need_by[rest] = n
        elif kind in ("created", "closed"):
            per_day[kind][rest] += n
    ages = _Entries(store, entered)

    by_kind: Counter[str] = Counter()
    breaching: Counter[str] = Counter()
    states: list[dict[str, Any]] = []
    for status in OrderStatus:
        value = status.value
        count = sum(by_state_kind[value].values())
        by_kind.update(by_state_kind[value])
        limit = sla.get(value)
        if count and limit is not None and limit > 0:
            breaching[value] = ages.before(value, now - timedelta(hours=limit))
        age = {"median": 0.0, "p90": 0.0, "max": 0.0}
        if count:
            age = {"median": round(_hours(now, ages.newest(value, nearest_rank(count, 50))), 1),
                   "p90": round(_hours(now, ages.newest(value, nearest_rank(count, 90))), 1),
                   "max": round(_hours(now, ages.newest(value, count)), 1)}
        states.append({
            "status": value,
            "count": count,
            "by_kind": dict(by_state_kind.get(value, {})),
            "sla_hours": limit,
            "age_hours": age,
            "breaching": breaching.get(value, 0),
            "flagged": counts.get(f"flagged|{value}", 0),
        })
    late = sum(n for day, n in need_by.items() if need_by_deadline(date.fromisoformat(day)) <= now)
    if late:
        breaching["need_by"] = late
    breaching = +breaching  # states without a breach are left out, as they always were
    # Orders wait in the states that have an SLA; Closed and Cancelled are where they end.
    waiting = [s for s in states if s["sla_hours"] and s["count"]]
    bottleneck = max(waiting, key=lambda s: (s["age_hours"]["median"], s["age_hours"]["p90"]), default=None)

    since = datetime.combine((now - timedelta(days=days)).date(), datetime.min.time(), tzinfo=now.tzinfo)
    first = since.date()
    throughput = [{"day": (d := (first + timedelta(days=i)).isoformat()), "created": per_day["created"][d],
                   "closed": per_day["closed"][d]} for i in range(days + 1)]
    holds = [{"order_id": o.order_id, "project_id": o.project_id, "status": o.status.value,
              "at": o.engineering_hold.at.isoformat(), "failed_checks": o.engineering_hold.failed_checks}
             for o in store.held_orders(OLDEST_SHOWN) if o.engineering_hold is not None]

    open_quarantine = all_quarantine(deps.store, "open")
    by_source = Counter(r.source for r in open_quarantine)
    return {
        "generated_at": now.isoformat(),
        "window_days": days,
        "total_orders": sum(s["count"] for s in states),
        "by_kind": dict(by_kind),
        "states": states,
        "breaches": {"open": sum(breaching.values()), "by_state": dict(breaching),
                     "flagged": counts.get("flags", 0), "oldest": _most_overdue(store, now, sla, breaching)},
        "throughput": throughput,
        "engineering_holds": {"count": counts.get("holds", 0), "orders": holds},
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
