"""The review console's work queue on the embedded store: what one page and
the counts per state cost with 1,000 and with 100,000 orders (issue 14:
"fast on 100k orders, server-side paging and filters only").

Orders are written straight through `Store.commit` (1,000 projects, states
spread as a busy month leaves them, entry times over 30 days). For each size
it times, as the console asks them (median of 15 after a warm-up):

- the first page (25) by id; a Draft page; Draft orders past their SLA;
  every order in its state longer than 48 h, longest waiting first; the 40th
  page of that list (following the continuation);
- the counts per state, with no filter and with the SLA filter;

and prints the 100,000 / 1,000 ratio of each: a page read through the index
stays near 1x; the counts grow with the orders they count.

    .venv/bin/python bench/work_queue.py [--sizes 1000 100000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.adapters.sqlite import SqliteInventory, SqliteStore
from common.config import Settings
from common.domain.models import Order, OrderLine, OrderStatus
from common.ports import DocWrite, PartitionChanges
from common.service.bootstrap import Deps, build
from common.service.handlers.work_queue import QueueFilters, queue_counts, work_queue

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STATES = [(OrderStatus.DRAFT, 20), (OrderStatus.APPROVED, 10), (OrderStatus.ALLOCATED, 3),
          (OrderStatus.RELEASED, 15), (OrderStatus.CLOSED, 45), (OrderStatus.PARTIALLY_RETURNED, 2),
          (OrderStatus.CANCELLED, 5)]
PROJECTS = 1000


def fill(store: SqliteStore, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    statuses, weights = zip(*STATES, strict=True)
    per_project = max(1, n // PROJECTS)
    for p in range(PROJECTS):
        project = f"PRJ-{p:07d}"
        orders = {}
        for seq in range(1, per_project + 1):
            entered = NOW - timedelta(minutes=rng.randint(0, 30 * 24 * 60))
            order = Order(order_id=f"{project}~S-{p}~NewBuild~{seq}", order_number=f"S-{p}-{seq}", project_id=project,
                          site_code=f"S-{p}", order_type="NewBuild", seq=seq, market=f"M-{p % 40}",
                          status=rng.choices(statuses, weights)[0], national_priority=rng.randint(1, 5),
                          lines=[OrderLine(line_no=1, sku="ANT", qty=2)], status_since=entered,
                          created_at=entered - timedelta(days=1), updated_at=entered)
            orders[order.order_id] = DocWrite(order, None)
        assert store.commit([PartitionChanges(partition=project, orders=orders)]).ok


def timed(call: Callable[[], object], repeat: int = 15) -> float:
    call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def page_40(deps: Deps, filters: QueueFilters) -> Callable[[], object]:
    token = None
    for _ in range(39):
        token = work_queue(deps, filters, sort="waiting", limit=25, continuation=token).continuation
    return lambda: work_queue(deps, filters, sort="waiting", limit=25, continuation=token)


def measure(n: int, folder: Path) -> dict[str, float]:
    settings = Settings(OMS_SQLITE_PATH=str(folder / f"q{n}.db"), OMS_DATA_DIR=str(folder / "d"))  # type: ignore[call-arg]
    store, inventory = SqliteStore(settings.sqlite_path), SqliteInventory(settings.sqlite_path)
    store.ensure_schema()
    inventory.ensure_schema()
    deps = build(settings, store=store, inventory=inventory, clock=FixedClock(NOW), notifier=MemoryNotifier())
    start = time.perf_counter()
    fill(store, n)
    print(f"  {n:>7,} orders written in {time.perf_counter() - start:.1f} s")
    aged = QueueFilters(min_age_hours=48)
    cases: dict[str, Callable[[], object]] = {
        "first page by id": lambda: work_queue(deps, QueueFilters(), limit=25),
        "Draft page": lambda: work_queue(deps, QueueFilters(status="Draft"), limit=25),
        "Draft past SLA": lambda: work_queue(deps, QueueFilters(status="Draft", sla_breached=True), limit=25),
        "> 48 h, longest waiting": lambda: work_queue(deps, aged, sort="waiting", limit=25),
        "40th page of that": page_40(deps, aged),
        "counts per state": lambda: queue_counts(deps, QueueFilters()),
        "counts, past SLA": lambda: queue_counts(deps, QueueFilters(sla_breached=True)),
    }
    out = {name: timed(call) for name, call in cases.items()}
    inventory.close()
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 100_000])
    args = parser.parse_args()
    small, large = args.sizes
    with tempfile.TemporaryDirectory() as tmp:
        print("work queue on SQLite (median of 15, ms)")
        a = measure(small, Path(tmp))
        b = measure(large, Path(tmp))
    print(f"{'':26} {small:>10,} {large:>10,}   ratio")
    for name in a:
        print(f"{name:26} {a[name] * 1000:10.2f} {b[name] * 1000:10.2f}   {b[name] / a[name]:5.1f}x")


if __name__ == "__main__":
    main()
