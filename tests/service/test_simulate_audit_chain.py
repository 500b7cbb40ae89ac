"""The simulation's invariant check reads each order's audit trail as its
chain of status changes (kept as (from, to) pairs, not the entries): a
trail that jumps, or one that ends elsewhere than the order's status, is
reported; a run's own trails are whole."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from common.adapters.clock import FixedClock
from common.config import Settings
from common.domain.models import OrderStatus
from common.ports import PartitionChanges
from common.service.bootstrap import build
from common.simulate import START, Simulation, all_orders, check_invariants


def test_an_audit_trail_that_jumps_or_ends_elsewhere_is_reported(tmp_path: Path) -> None:
    settings = Settings(OMS_SQLITE_PATH=str(tmp_path / "sim.db"), OMS_DATA_DIR=str(tmp_path / "d"))
    deps = build(settings, clock=FixedClock(at=START))
    sim = Simulation(deps, projects=30, days=4, seed=3)
    sim.run()
    assert check_invariants(deps, sim.tag) == []
    closed = next(o for o in all_orders(deps, sim.tag) if o.status == OrderStatus.CLOSED)
    last = deps.store.query_audit(closed.project_id, None, None).items[-1]
    # An entry out of the chain: from Draft (the order is Closed), to Approved.
    stray = last.model_copy(update={"audit_id": f"{last.audit_id}-stray", "at": last.at + timedelta(days=30),
                                    "order_id": closed.order_id, "from_status": OrderStatus.DRAFT,
                                    "to_status": OrderStatus.APPROVED})
    assert deps.store.commit([PartitionChanges(partition=closed.project_id, audit=[stray])]).ok

    problems = check_invariants(deps, sim.tag)

    assert any(p.startswith(f"{closed.order_id}: audit jumps from Closed to an entry from Draft") for p in problems)
