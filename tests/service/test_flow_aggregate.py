"""The flow counters behind GET /api/metrics/flow stay exact under the real
write paths: a whole simulated operation (designs, revisions, approvals,
allocation, release, deliveries, returns, cancels, SLA sweeps), concurrent
writers on one store, and a store written before the counters existed. Exact
means equal to a recount from the documents, and the metrics equal to a full
scan of every order and audit entry (tests/helpers/flow_reference.py)."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from pathlib import Path

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.adapters.sqlite import SqliteStore
from common.config import Settings
from common.domain import flow
from common.service.bootstrap import Deps, build
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.metrics import flow_metrics
from common.service.paging import all_audit
from common.simulate import START, CountingNotifier, Simulation
from tests.conftest import load_samples
from tests.helpers.flow_reference import all_orders, same_as_full_scan
from tests.helpers.warehouse import design_event


def _settings(tmp_path: Path) -> Settings:
    return Settings(OMS_SQLITE_PATH=str(tmp_path / "oms.db"), OMS_DATA_DIR=str(tmp_path / "d"))  # type: ignore[call-arg]


def _recounted(store: SqliteStore | object) -> None:
    assert isinstance(store, SqliteStore)
    assert store.flow_counts() == flow.recount(all_orders(store), all_audit(store))


def test_a_simulated_operation_keeps_the_counters_and_the_metrics_exact(tmp_path: Path) -> None:
    clock = FixedClock(at=START)
    deps = build(_settings(tmp_path), clock=clock)
    sim = Simulation(deps, projects=30, days=6, seed=4)
    deps.notifier = CountingNotifier(sim.summary)
    sim.run()

    _recounted(deps.store)
    for later in (timedelta(0), timedelta(hours=13), timedelta(days=5), timedelta(days=30)):
        now = clock.at + later
        at_now = build(deps.settings, store=deps.store, inventory=deps.inventory, clock=FixedClock(at=now),
                       notifier=MemoryNotifier())
        same_as_full_scan(flow_metrics(at_now), deps.store, now, deps.settings.sla_hours)


def _design(rng: random.Random, n: int, project: str, site: str, version: int) -> dict[str, object]:
    order_type = rng.choice(["NewBuild", "Upgrade"])  # drawn before the quantity: a seed makes the same events
    return design_event(f"w-{n}", version, {"ANT-4T4R-B41": rng.randint(1, 9)}, project, site, order_type=order_type,
                        kind="DesignApproved" if version == 1 else "DesignRevised", at="2026-11-20T08:00:00Z")


def test_concurrent_writers_on_one_store_keep_the_counters_exact(seeded: Deps, settings: Settings) -> None:
    """Four writers, each with its own connection, revise the same streams at
    once: the partitions they lose are re-read and written again, and every
    write that lands moves the counters with it."""
    streams = [("PRJ-0000101", "NYC-00417"), ("PRJ-0000102", "BOS-00112"), ("PRJ-0000104", "DAL-00555")]
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            store = SqliteStore(settings.sqlite_path)
            deps = build(settings, store=store, clock=FixedClock(step=timedelta(minutes=7)), notifier=MemoryNotifier())
            rng = random.Random(w)
            for batch in range(12):
                events = [_design(rng, w * 1000 + batch * 10 + i, *rng.choice(streams), version=2 + batch * 4 + w)
                          for i in range(4)]
                ingest_engineering_events(deps, IngestEngineeringEvents(events, channel="file"))
            store.close()
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(all_orders(seeded.store)) >= len(streams)
    _recounted(seeded.store)


def test_a_store_written_before_the_counters_is_counted_once_when_opened(seeded: Deps, clock: FixedClock) -> None:
    events = [_design(random.Random(n), n, "PRJ-0000101", "NYC-00417", version=1 + n) for n in range(3)]
    ingest_engineering_events(seeded, IngestEngineeringEvents(events, channel="file"))
    store = seeded.store
    assert isinstance(store, SqliteStore)
    with store.transaction() as db:  # what a store made before the counters holds
        db.execute("DELETE FROM flow")
        db.execute("UPDATE orders SET since = NULL, need_by = NULL, hold_at = NULL, flow = NULL")
    assert store.flow_counts() == {}

    store.ensure_schema()

    assert store.flow_counts() != {}
    _recounted(store)
    store.ensure_schema()  # counted once: opening again changes nothing
    _recounted(store)
    load_samples(seeded)
