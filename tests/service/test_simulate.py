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
from common.service.bootstrap import build
from common.service.paging import all_quarantine
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


def test_oms_simulate_prints_a_summary_and_leaves_the_data_for_serve(tmp_path: Path) -> None:
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
