"""`oms simulate`: a small whole operation through the real handlers leaves
every invariant true, and its summary agrees with the store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from common.adapters.clock import FixedClock
from common.adapters.sqlite import SqliteStore
from common.config import Settings
from common.domain.models import OrderStatus
from common.ports import OrderQuery
from common.service.bootstrap import Deps, build
from common.service.paging import all_quarantine, every
from common.simulate import START, CountingNotifier, Simulation, all_orders, check_invariants

ROOT = Path(__file__).resolve().parents[2]


def test_a_small_simulation_keeps_every_invariant_and_its_summary_agrees_with_the_store(tmp_path: Path) -> None:
    settings = Settings(OMS_SQLITE_PATH=str(tmp_path / "sim.db"), OMS_DATA_DIR=str(tmp_path / "d"))  # type: ignore[call-arg]
    deps = build(settings, clock=FixedClock(at=START))
    sim = Simulation(deps, projects=50, days=8, seed=11)
    deps.notifier = CountingNotifier(sim.summary)

    summary = sim.run()

    assert summary.violations == []
    orders = all_orders(deps, sim.tag)
    assert summary.orders_by_state == dict(Counter(o.status.value for o in orders))
    assert summary.orders_by_kind == dict(Counter(o.kind.value for o in orders))
    assert summary.sla_flagged == sum(len(o.sla_breached) for o in orders)
    # The whole flow ran: designs became orders that were approved, allocated, delivered and some returned.
    assert summary.outcomes["created"] > 0 and summary.outcomes["quarantined"] > 0
    assert summary.approvals["approved"] > 0
    assert {OrderStatus.CLOSED.value, OrderStatus.RELEASED.value} <= set(summary.orders_by_state)
    assert 0 < summary.fill_rate <= 1
    assert summary.quarantine == dict(Counter(r.source for r in all_quarantine(deps.store)))
    created_events = [e for e in deps.store.outbox_events() if e.type == "oms.order.created"]
    assert len(created_events) == len(orders)
    jobs = deps.store.list_jobs(1000)
    assert all(j.status == "succeeded" for j in jobs)
    assert sum(j.job == "sla-sweep" for j in jobs) == 8
    # The day-7 master update is a whole dump: no project drops out of the master.
    assert not any(p.removed for p in deps.store.list_projects(1000).items)


def test_the_invariant_check_catches_a_reservation_without_an_order(tmp_path: Path) -> None:
    settings = Settings(OMS_SQLITE_PATH=str(tmp_path / "sim.db"), OMS_DATA_DIR=str(tmp_path / "d"))  # type: ignore[call-arg]
    deps = build(settings, clock=FixedClock(at=START))
    sim = Simulation(deps, projects=30, days=4, seed=3)
    sim.run()
    assert deps.inventory is not None
    closed = [o for o in all_orders(deps, sim.tag) if o.status == OrderStatus.CLOSED]
    assert closed
    from common.domain.models import Reservation

    deps.inventory.reserve(Reservation(order_id=closed[0].order_id, warehouse_id=closed[0].warehouse_id or "",
                                       lines={closed[0].lines[0].sku: 1}, at=START))

    problems = check_invariants(deps, sim.tag)

    assert any("reservations" in p for p in problems)


def test_oms_simulate_prints_a_summary_leaves_the_data_for_serve_and_runs_again_on_it(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    done = subprocess.run([sys.executable, "-m", "common.cli", "simulate", "--projects", "15", "--days", "3",
                           "--seed", "5", "--db", str(db), "--json"], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, timeout=600)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["violations"] == []
    store = SqliteStore(db)
    try:
        stored = Counter(o.status.value for s in OrderStatus
                         for o in store.query_orders(OrderQuery(status=s.value, limit=1000)).items)
    finally:
        store.close()
    assert summary["orders_by_state"] == dict(stored)

    again = subprocess.run([sys.executable, "-m", "common.cli", "simulate", "--projects", "15", "--days", "3",
                            "--seed", "5", "--db", str(db), "--json"], capture_output=True, text=True, cwd=tmp_path,
                           env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}, timeout=600)

    assert again.returncode == 0, again.stderr  # the same store, run again: fresh ids, every invariant holds
    assert (summary["tag"], json.loads(again.stdout)["tag"]) == ("S5", "S5R2")


def _samples_store(tmp_path: Path) -> Deps:
    """The store `scripts/run` leaves: the bundled samples loaded through the handlers."""
    from common.local.server import load_samples, samples_dir

    settings = Settings(OMS_SQLITE_PATH=str(tmp_path / "oms.db"), OMS_DATA_DIR=str(tmp_path / "data"))  # type: ignore[call-arg]
    deps = build(settings, clock=FixedClock(at=START))
    folder = samples_dir()
    assert folder is not None
    load_samples(deps, folder)
    return deps


def _simulate(deps: Deps, seed: int = 7) -> Simulation:
    sim = Simulation(deps, projects=30, days=5, seed=seed)
    deps.notifier = CountingNotifier(sim.summary)
    sim.run()
    return sim


def test_a_simulation_on_the_store_the_samples_filled_keeps_every_invariant(tmp_path: Path) -> None:
    deps = _samples_store(tmp_path)
    samples_stock = {(r.warehouse_id, r.sku): r.on_hand for r in deps.inventory.stock()}
    samples_quarantine = {r.id for r in all_quarantine(deps.store)}

    sim = _simulate(deps)

    assert sim.summary.violations == []
    # Nothing of the samples is quarantined by the run: what it quarantined are its own invalid events.
    added = [r for r in all_quarantine(deps.store) if r.id not in samples_quarantine]
    assert added and all((r.event_id or "").startswith(sim.prefix) for r in added), \
        [(r.source, r.event_id, r.reasons[0].msg) for r in added if not (r.event_id or "").startswith(sim.prefix)]
    # The samples' newer stock snapshot is neither overwritten nor counted against the run.
    after = {(r.warehouse_id, r.sku): r.on_hand for r in deps.inventory.stock()}
    assert {key: after[key] for key in samples_stock} == samples_stock
    stock_jobs = [j for j in deps.store.list_jobs(1000) if j.job == "ingest-stock-snapshots"]
    assert all(j.counts.get("skipped_stale", 0) == 0 for j in stock_jobs)


def test_a_second_simulation_on_the_same_store_gets_fresh_ids_and_both_runs_stay_consistent(tmp_path: Path) -> None:
    deps = _samples_store(tmp_path)
    first = _simulate(deps)

    second = _simulate(deps)

    assert (first.tag, second.tag) == ("S7", "S7R2")
    assert second.summary.violations == []
    assert check_invariants(deps, first.prefix) == []
    assert second.summary.orders_by_state == first.summary.orders_by_state  # the same seed replays the same run
    # Each dump of the second run was a whole master: no project of the first run or of the samples was removed.
    assert not any(p.removed for p in every(lambda token: deps.store.list_projects(1000, token)))
    assert {o.order_id.split("-", 1)[0] for o in all_orders(deps, second.prefix)} == {"S7R2"}
