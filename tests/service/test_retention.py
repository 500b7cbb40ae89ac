"""Retention on the embedded store: the sweep deletes what is settled and
older than its retention (Cosmos DB does the same by TTL), and never anything
still needed: open quarantine, undelivered order events, running jobs, and
job runs that ended within their retention (a run the sweep has just marked
abandoned included)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from common.adapters.clock import FixedClock
from common.adapters.sqlite import SqliteStore
from common.domain.models import JobRun, QuarantineRecord, Reason
from common.ports import OrderQuery, Retention
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.outbox import dispatch_outbox
from common.service.handlers.sweeps import run_sweeps
from tests.helpers.warehouse import design_event


def test_the_sweep_purges_settled_records_past_their_retention_and_keeps_the_rest(
        seeded: Deps, clock: FixedClock) -> None:
    store = seeded.store
    assert isinstance(store, SqliteStore)
    store.retention = Retention(marker_days=30, outbox_days=7, job_days=90, quarantine_days=60)
    ingest_engineering_events(seeded, IngestEngineeringEvents([design_event("e-1")], channel="file"))
    dispatch_outbox(seeded)  # delivered now
    ingest_engineering_events(seeded, IngestEngineeringEvents(
        [design_event("e-2", project="PRJ-0000104", site="DAL-00555")], channel="file"))  # stays undelivered
    store.put_job(JobRun(job_id="stuck", job="ingest", started_at=clock.now()))
    for record_id, status in (("q-open", "open"), ("q-done", "reprocessed")):
        store.put_quarantine(QuarantineRecord(id=record_id, source="t", received_at=clock.now(),
                                              reasons=[Reason(msg="bad")], payload={}, status=status))  # type: ignore[arg-type]
    clock.advance(timedelta(days=100))

    run = run_sweeps(seeded)

    assert {k: v for k, v in run.counts.items() if k.startswith("purged_")} == {
        "purged_markers": 2, "purged_outbox": 1, "purged_jobs": 2, "purged_quarantine": 1}
    left = store.outbox_events()
    assert "PRJ-0000101~NYC-00417~NewBuild~1@1" not in {e.id for e in left}  # delivered 100 days ago
    assert "PRJ-0000104~DAL-00555~NewBuild~1@1" in {e.id for e in left}  # never delivered: kept
    assert all(e.delivered_at is None for e in left)
    stuck = store.get_job("stuck")  # abandoned by this sweep, kept its retention from now
    assert stuck is not None and stuck.status == "abandoned"
    assert store.get_quarantine("q-open") is not None and store.get_quarantine("q-done") is None
    assert len(store.query_orders(OrderQuery()).items) == 2  # orders and their audit are never purged
    assert store.order_audit("PRJ-0000101~NYC-00417~NewBuild~1")[0].action == "create"


def test_a_retention_of_zero_days_keeps_forever(seeded: Deps, clock: FixedClock) -> None:
    store = seeded.store
    assert isinstance(store, SqliteStore)
    store.retention = Retention(marker_days=0, outbox_days=0, job_days=0, quarantine_days=0)
    ingest_engineering_events(seeded, IngestEngineeringEvents([design_event("e-1")], channel="file"))
    dispatch_outbox(seeded)
    clock.advance(timedelta(days=3650))

    assert store.purge_expired(clock.now()) == {}
    report = ingest_engineering_events(dataclasses.replace(seeded), IngestEngineeringEvents(
        [design_event("e-1")], channel="file"))
    assert [r.outcome.value for r in report.results] == ["skipped_duplicate"]
