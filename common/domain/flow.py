"""The order-flow aggregate behind the dashboard (`GET /api/metrics/flow`).

The metrics must not re-read history: every figure that is a sum over orders
or audit entries is kept as counters, maintained in the same atomic write as
the order change (each store adds `counts(new) - counts(old)` of every order
it writes and `audit_counts` of every audit entry it inserts, inside the
partition's transaction or batch). Reading the metrics sums the counters;
what needs single orders (a percentile, the most overdue) is read through an
index bounded by one day of entries (common/service/handlers/metrics.py).

Every counter is a pure function of one stored document, so a full recount
from the orders and the audit trail gives the same numbers (the tests check
this after random workloads). Keys (`|`-separated, none contains `|`):

- `state|{status}|{kind}`: orders in a state, by kind;
- `entered|{status}|{day}`: orders in a state by the UTC day they entered it
  (ages, percentiles and SLA breaches are found from these);
- `flagged|{status}`: breach flags of an order for its current state (keys
  `{status}@...` in `sla_breached`), `flags`: all its flags;
- `need_by|{day}`: Released orders by their need-by date;
- `holds`: orders under an engineering hold;
- `created|{day}`, `closed|{day}`: audit entries that created or closed an
  order, by the day of the entry (throughput).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime

from common.domain.models import AuditEntry, Order, OrderStatus

Counts = dict[str, int]


def stamp(at: datetime) -> str:
    """Fixed-width UTC time (naive counts as UTC): sorts as the instants do;
    the stores index an order's `entered_at` by it."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds") + "Z"


def entered(order: Order) -> datetime:
    """When the order entered its current status (common.domain.sla.entered_at)."""
    return order.status_since or order.created_at


def order_counts(order: Order, since: str | None = None) -> Counts:
    """`since`: `stamp(entered(order))`, when the caller has it already."""
    status = order.status.value
    day = (since or stamp(entered(order)))[:10]
    out: Counts = {f"state|{status}|{order.kind.value}": 1, f"entered|{status}|{day}": 1}
    if order.sla_breached:
        out["flags"] = len(order.sla_breached)
        prefix = f"{status}@"
        here = sum(1 for key in order.sla_breached if key.startswith(prefix))
        if here:
            out[f"flagged|{status}"] = here
    if order.status == OrderStatus.RELEASED and order.need_by is not None:
        out[f"need_by|{order.need_by.isoformat()}"] = 1
    if order.engineering_hold is not None:
        out["holds"] = 1
    return out


def audit_counts(entry: AuditEntry) -> Counts:
    # The day as the entry's own time gives it (the throughput's rule).
    if entry.from_status is None and entry.to_status is not None:
        return {f"created|{entry.at.date().isoformat()}": 1}
    if entry.to_status == OrderStatus.CLOSED and entry.from_status != OrderStatus.CLOSED:
        return {f"closed|{entry.at.date().isoformat()}": 1}
    return {}


def encode(counts: Mapping[str, int]) -> str:
    """An order's counts as stored beside it: `key=n` joined by `;` (no key
    holds either), cheaper to write and read than JSON on every order write."""
    return ";".join(f"{key}={n}" for key, n in counts.items())


def decode(text: str) -> Counts:
    if text.startswith("{"):  # the JSON of the first stores that kept the counts
        return {str(k): int(n) for k, n in json.loads(text).items()}
    out: Counts = {}
    for item in text.split(";") if text else ():
        key, _, n = item.rpartition("=")
        out[key] = int(n)
    return out


def add(into: MutableMapping[str, int], counts: Mapping[str, int], sign: int = 1) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + sign * n


def delta(before: Mapping[str, int] | None, after: Order | None, audit: Iterable[AuditEntry] = ()) -> Counts:
    """What one write changes: `after`'s counts less `before`'s (the counts
    stored with the order as it was), plus the inserted audit entries'."""
    out: Counts = {}
    if after is not None:
        add(out, order_counts(after))
    if before:
        add(out, before, -1)
    for entry in audit:
        add(out, audit_counts(entry))
    return {k: n for k, n in out.items() if n}


def recount(orders: Iterable[Order], audit: Iterable[AuditEntry]) -> Counts:
    """The counters from scratch (a store's first build, and the tests' check)."""
    out: Counts = {}
    for order in orders:
        add(out, order_counts(order))
    for entry in audit:
        add(out, audit_counts(entry))
    return {k: n for k, n in out.items() if n}
