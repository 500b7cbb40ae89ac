"""The timer triggers through the worker, with the timer payload the host
sends (`Schedule`, `ScheduleStatus`, `IsPastDue`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.adapters.clock import FixedClock
from common.adapters.local_sink import LocalSinkPublisher
from common.domain.events import to_cloudevent
from common.domain.models import OrderStatus
from common.service.bootstrap import Deps
from tests.helpers.warehouse import ORDER, approve, design, on_hand, stock_up
from tests.worker import payloads
from tests.worker.conftest import WorkerClient


@pytest.mark.invokes("allocation_run")
def test_the_allocation_timer_allocates_and_releases_an_approved_order_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    stock_up(seeded, {"ANT-4T4R-B41": 10, "RRU-B41-160W": 10, "CBL-HYB-30M": 10})
    design(seeded)
    approve(seeded, ORDER)

    worker.succeed("allocation_run", payloads.timer("allocation_run"))

    order = seeded.store.get_order(ORDER)
    assert order is not None and order.status == OrderStatus.RELEASED
    assert on_hand(seeded) == {"ANT-4T4R-B41": (10, 3), "RRU-B41-160W": (10, 3), "CBL-HYB-30M": (10, 6)}
    assert seeded.inventory is not None
    reservation = seeded.inventory.get_reservation(ORDER)
    assert reservation is not None and reservation.lines == order.quantities()
    (run,) = [j for j in seeded.store.list_jobs(20) if j.job == "allocation"]
    assert (run.source, run.status, run.counts["allocated"]) == ("timer:greedy", "succeeded", 1)
    types = [e.type for e in seeded.store.outbox_events(ORDER)]
    assert types[-2:] == ["oms.order.allocated", "oms.order.release_requested"]


@pytest.mark.invokes("allocation_run")
def test_a_past_due_allocation_timer_leaves_a_short_order_approved_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    stock_up(seeded, {"ANT-4T4R-B41": 1, "RRU-B41-160W": 10, "CBL-HYB-30M": 10})  # 3 antennas needed
    design(seeded)
    approve(seeded, ORDER)

    worker.succeed("allocation_run", payloads.timer("allocation_run", past_due=True))

    order = seeded.store.get_order(ORDER)
    assert order is not None and order.status == OrderStatus.APPROVED and order.short_runs == 1
    assert on_hand(seeded) == {"ANT-4T4R-B41": (1, 0), "RRU-B41-160W": (10, 0), "CBL-HYB-30M": (10, 0)}
    (run,) = [j for j in seeded.store.list_jobs(20) if j.job == "allocation"]
    assert (run.status, run.counts["allocated"], run.counts.get("short")) == ("succeeded", 0, 1)


@pytest.mark.invokes("sla_sweep")
def test_the_sla_sweep_timer_records_its_job_run_and_flags_breaches_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    design(seeded)  # a Draft order ten days old to the worker's clock (72 h SLA)

    worker.succeed("sla_sweep", payloads.timer("sla_sweep"))

    (run,) = [j for j in seeded.store.list_jobs(20) if j.job == "sla-sweep"]
    assert (run.source, run.status, run.counts["scanned"], run.counts["flagged"]) == ("timer", "succeeded", 1, 1)
    order = seeded.store.get_order(ORDER)
    assert order is not None and [k.split("@")[0] for k in order.sla_breached] == ["Draft"]
    assert seeded.store.order_audit(ORDER)[-1].correlation_id == run.job_id
    assert [e.type for e in seeded.store.outbox_events(ORDER)][-1] == "oms.order.sla_breached"

    worker.succeed("sla_sweep", payloads.timer("sla_sweep"))

    runs = [j for j in seeded.store.list_jobs(20) if j.job == "sla-sweep"]
    assert len(runs) == 2 and runs[0].counts["flagged"] == 0


@pytest.mark.invokes("outbox_republish")
def test_the_outbox_republish_timer_publishes_what_is_undelivered_past_the_grace_through_the_worker(
        worker: WorkerClient, seeded: Deps, clock: FixedClock) -> None:
    design(seeded)  # ten days old to the worker's clock
    approve(seeded, ORDER)
    stale = seeded.store.outbox_events()
    clock.at = datetime.now(UTC) - timedelta(minutes=1)  # within OMS_OUTBOX_GRACE_MINUTES (15)
    design(seeded, event_id="evt-fresh", project="PRJ-0000102", site="BOS-00112")
    fresh = [e for e in seeded.store.outbox_events() if e.id not in {s.id for s in stale}]
    assert len(stale) == 2 and len(fresh) == 1

    worker.succeed("outbox_republish", payloads.timer("outbox_republish"))

    sink = LocalSinkPublisher.in_data_dir(seeded.settings.data_path)
    assert sink.read() == [to_cloudevent(e) for e in stale]  # the project's commit order, same ids
    assert [e.id for e in seeded.store.pending_outbox()] == [e.id for e in fresh]
    (run,) = [j for j in seeded.store.list_jobs(20) if j.job == "outbox-republish"]
    assert (run.source, run.status, run.counts["republished"]) == ("timer", "succeeded", 2)

    worker.succeed("outbox_republish", payloads.timer("outbox_republish"))

    assert len(sink.read()) == 2
    assert len([j for j in seeded.store.list_jobs(20) if j.job == "outbox-republish"]) == 1
