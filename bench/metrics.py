"""GET /api/metrics/flow at 10k, 100k and 1M orders on the embedded store.

    .venv/bin/python -m bench.metrics [--sizes 10000,100000,1000000] [--days 365] [--repeat 5]

For each size a fresh SQLite store is filled directly through the store port
(`Store.commit`, the same write the handlers use, so the flow counters are
kept as in production): orders spread over every state and kind, having
entered their state at any time over `--days` of history, with need-by dates,
breach flags and a few engineering holds, each with its creation audit entry
(and a closing one for the Closed). Then the metrics are read: by the
handler, and through the HTTP route (FastAPI TestClient, in process), best of
`--repeat`.

The same-run anchor is the full scan the metrics did before the counters
(tests/helpers/flow_reference.py: every order and the audit window per call),
timed at the sizes up to `--scan-up-to`.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import timeit
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.adapters.sqlite import SqliteInventory, SqliteStore
from common.config import Settings
from common.domain.models import (
    Actor,
    ActorType,
    AuditEntry,
    EngineeringHold,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
)
from common.ports import DocWrite, PartitionChanges
from common.service.bootstrap import build
from common.service.handlers.metrics import flow_metrics

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ACTOR = Actor(type=ActorType.SYSTEM, id="bench")
ORDERS_PER_PROJECT = 10
COMMIT_PROJECTS = 200  # partitions per commit: ~2,000 orders, like a large batch
STATES = ([OrderStatus.CLOSED] * 40 + [OrderStatus.DRAFT] * 15 + [OrderStatus.APPROVED] * 15
          + [OrderStatus.ALLOCATED] * 5 + [OrderStatus.RELEASED] * 10 + [OrderStatus.CANCELLED] * 10
          + [OrderStatus.PARTIALLY_RETURNED] * 5)
KEYS = {"bench-viewer": {"user": "bench", "roles": ["viewer"]}}


def _order(rng: random.Random, project: int, n: int, history_days: int) -> tuple[Order, list[AuditEntry]]:
    created = NOW - timedelta(seconds=rng.randrange(history_days * 86_400))
    status = rng.choice(STATES)
    since = created + (NOW - created) * rng.random()
    pid, site = f"PRJ-{project:07d}", f"S-{project:07d}"
    order = Order(order_id=f"{pid}~{site}~NewBuild~{n}", order_number=f"{site}-NB-{n:03d}", project_id=pid,
                  site_code=site, order_type="NewBuild", seq=n,
                  kind=rng.choice([OrderKind.STANDARD] * 8 + [OrderKind.DELTA, OrderKind.SUPPLEMENTAL]),
                  status=status, lines=[OrderLine(line_no=1, sku=f"SKU-{rng.randrange(500):03d}", qty=3)],
                  need_by=date(2026, 6, 1) + timedelta(days=rng.randrange(365)) if rng.random() < 0.5 else None,
                  sla_breached=[f"{status.value}@x"] if rng.random() < 0.1 else [],
                  engineering_hold=EngineeringHold(at=since, event_id="e", failed_checks=["power"])
                  if rng.random() < 0.001 else None,
                  status_since=since, created_at=created, updated_at=since)
    entries = [AuditEntry(audit_id=f"{order.order_id}@1", order_id=order.order_id, project_id=pid, at=created,
                          actor=ACTOR, action="create", to_status=OrderStatus.DRAFT)]
    if status == OrderStatus.CLOSED:
        entries.append(AuditEntry(audit_id=f"{order.order_id}@2", order_id=order.order_id, project_id=pid, at=since,
                                  actor=ACTOR, action="close", from_status=OrderStatus.RELEASED,
                                  to_status=OrderStatus.CLOSED))
    return order, entries


def fill(store: SqliteStore, orders: int, history_days: int, seed: int) -> float:
    rng = random.Random(seed)
    start = time.perf_counter()
    projects = -(-orders // ORDERS_PER_PROJECT)
    for first in range(0, projects, COMMIT_PROJECTS):
        parts = []
        for project in range(first, min(projects, first + COMMIT_PROJECTS)):
            part = PartitionChanges(partition=f"PRJ-{project:07d}")
            for n in range(min(ORDERS_PER_PROJECT, orders - project * ORDERS_PER_PROJECT)):
                order, entries = _order(rng, project, n + 1, history_days)
                part.orders[order.order_id] = DocWrite(order, None)
                part.audit.extend(entries)
            parts.append(part)
        result = store.commit(parts)
        assert result.ok, result.conflicts
    return time.perf_counter() - start


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(size: int, history_days: int, repeat: int, scan: bool) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from common.api.app import create_app
    from common.api.deps import provide_deps
    from tests.helpers.flow_reference import full_scan

    with tempfile.TemporaryDirectory(prefix="oms-metrics-") as tmp:
        settings = Settings(OMS_SQLITE_PATH=str(Path(tmp) / "oms.db"), OMS_DATA_DIR=str(Path(tmp) / "d"),
                            OMS_API_KEYS=json.dumps(KEYS))
        store = SqliteStore(settings.sqlite_path)
        store.ensure_schema()
        written = fill(store, size, history_days, seed=size)
        inventory = SqliteInventory(settings.sqlite_path)
        deps = build(settings, store=store, inventory=inventory, clock=FixedClock(at=NOW), notifier=MemoryNotifier())
        data = flow_metrics(deps)
        handler = best(lambda: flow_metrics(deps), repeat)
        app = create_app()
        app.dependency_overrides[provide_deps] = lambda: deps
        with TestClient(app) as client:
            def get() -> None:
                assert client.get("/api/metrics/flow", headers={"X-API-Key": "bench-viewer"}).status_code == 200
            route = best(get, repeat)
        scanned = best(lambda: full_scan(store, NOW, settings.sla_hours), 1) if scan else None
        db_mb = sum(p.stat().st_size for p in Path(tmp).iterdir() if p.is_file()) / 1e6
        store.close()
        inventory.close()
    return {"orders": size, "write_s": written, "handler_s": handler, "route_s": route, "full_scan_s": scanned,
            "db_mb": db_mb, "total_orders": data["total_orders"], "breaches": data["breaches"]["open"],
            "bottleneck": (data["bottleneck"] or {}).get("status")}


def machine_speed() -> float:
    return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--days", type=int, default=365, help="history: orders entered their state over this many days")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scan-up-to", type=int, default=100_000,
                        help="time the old full scan (the anchor) up to this size")
    args = parser.parse_args(argv)
    before = machine_speed()
    goals = {100_000: 0.050, 1_000_000: 0.200}
    print(f"{'orders':>9} {'write s':>8} {'db MB':>7} {'handler ms':>11} {'route ms':>9} {'full scan ms':>13} "
          f"{'scan/route':>10}  goal")
    for size in (int(s) for s in args.sizes.split(",")):
        r = measure(size, args.days, args.repeat, size <= args.scan_up_to)
        scan = f"{r['full_scan_s'] * 1e3:>13.0f}" if r["full_scan_s"] is not None else f"{'-':>13}"
        ratio = f"{r['full_scan_s'] / r['route_s']:>9.0f}x" if r["full_scan_s"] is not None else f"{'-':>10}"
        goal = goals.get(size)
        verdict = "" if goal is None else f"< {goal * 1e3:.0f} ms {'OK' if r['route_s'] < goal else 'MISSED'}"
        print(f"{size:>9,} {r['write_s']:>8.1f} {r['db_mb']:>7.0f} {r['handler_s'] * 1e3:>11.1f} "
              f"{r['route_s'] * 1e3:>9.1f} {scan} {ratio}  {verdict}", flush=True)
        assert r["total_orders"] == size
    print(f"machine: sum(range(1000)) {before:.1f} us before, {machine_speed():.1f} us after (lower is less loaded)")


if __name__ == "__main__":
    main()
