"""The Event Hub triggers (cardinality many) through the worker, with the
batches the host sends: bodies as a `json` array or as `collection_bytes`,
`SystemPropertiesArray` metadata per event."""

from __future__ import annotations

from typing import Any

import pytest

from common.domain.models import OrderStatus
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from tests.helpers.warehouse import (
    ORDER,
    adjusted,
    completed,
    design_event,
    on_hand,
    stock_up,
)
from tests.worker import payloads
from tests.worker.conftest import WorkerClient

BOS = {"project": "PRJ-0000102", "site": "BOS-00112"}
BOS_ORDER = "PRJ-0000102~BOS-00112~NewBuild~1"


def engineering(bodies: list[Any], form: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return payloads.event_hub_batch("engineering_events", "engineering-events", bodies, form=form,
                                    partition_key="PRJ-0000101")


def warehouse(bodies: list[Any], form: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return payloads.event_hub_batch("warehouse_events", "warehouse-events", bodies, form=form,
                                    partition_key="WH-EAST")


def newest_job(deps: Deps, job: str) -> Any:
    runs = [run for run in deps.store.list_jobs(50) if run.job == job]
    assert runs, f"no {job} job run was recorded"
    return runs[0]


def counts(run: Any, *names: str) -> dict[str, int]:
    return {name: run.counts.get(name, 0) for name in names}


@pytest.mark.invokes("engineering_events")
def test_a_host_shaped_json_batch_creates_orders_through_the_worker(worker: WorkerClient, seeded: Deps) -> None:
    batch = [design_event("evt-w-1"), design_event("evt-w-2", **BOS), "not an event"]

    worker.succeed("engineering_events", engineering(batch, "json"))

    orders = {o.order_id: o for o in seeded.store.query_orders(OrderQuery()).items}
    assert set(orders) == {ORDER, BOS_ORDER}
    assert orders[ORDER].status == OrderStatus.DRAFT
    assert orders[ORDER].quantities() == {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}
    run = newest_job(seeded, "ingest-engineering-events")
    assert (run.source, run.status) == ("eventhub", "succeeded")
    assert counts(run, "received", "created", "quarantined") == {"received": 3, "created": 2, "quarantined": 1}
    (record,) = seeded.store.list_quarantine().items
    assert record.payload == "not an event"
    assert {e.type for e in seeded.store.outbox_events(ORDER)} == {"oms.order.created"}
    assert [a.action for a in seeded.store.order_audit(ORDER)] == ["create"]


@pytest.mark.invokes("engineering_events")
def test_a_redelivered_collection_bytes_batch_is_skipped_and_a_body_that_is_not_json_is_quarantined(
        worker: WorkerClient, seeded: Deps) -> None:
    worker.succeed("engineering_events", engineering([design_event("evt-w-1")], "json"))
    before = seeded.store.get_order(ORDER)

    redelivered = [design_event("evt-w-1"), b"{not json", design_event("evt-w-2", **BOS)]
    worker.succeed("engineering_events", engineering(redelivered, "collection_bytes"))

    assert seeded.store.get_order(ORDER) == before
    created = seeded.store.get_order(BOS_ORDER)
    assert created is not None and created.status == OrderStatus.DRAFT
    run = newest_job(seeded, "ingest-engineering-events")
    assert counts(run, "received", "created", "skipped_duplicate", "quarantined") == {
        "received": 3, "created": 1, "skipped_duplicate": 1, "quarantined": 1}
    (record,) = seeded.store.list_quarantine().items
    assert record.payload == "{not json"
    assert [(r.loc, r.type) for r in record.reasons] == [([], "json_invalid")]
    assert len(seeded.store.order_audit(ORDER)) == 1


@pytest.mark.invokes("warehouse_events")
def test_a_stock_adjustment_in_a_host_shaped_batch_changes_on_hand_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    stock_up(seeded, {"ANT-4T4R-B41": 10, "MNT-PIPE-2M": 4})

    worker.succeed("warehouse_events", warehouse([adjusted("wh-adj-1", "ANT-4T4R-B41", -2),
                                                  adjusted("wh-adj-2", "MNT-PIPE-2M", 3)], "json"))

    assert on_hand(seeded) == {"ANT-4T4R-B41": (8, 0), "MNT-PIPE-2M": (7, 0)}
    run = newest_job(seeded, "ingest-warehouse-events")
    assert (run.source, run.status, run.counts["received"]) == ("eventhub", "succeeded", 2)

    worker.succeed("warehouse_events", warehouse([adjusted("wh-adj-1", "ANT-4T4R-B41", -2), b"\xff\xfe{oops"],
                                                 "collection_bytes"))

    assert on_hand(seeded) == {"ANT-4T4R-B41": (8, 0), "MNT-PIPE-2M": (7, 0)}
    run = newest_job(seeded, "ingest-warehouse-events")
    assert counts(run, "skipped_duplicate", "quarantined") == {"skipped_duplicate": 1, "quarantined": 1}
    (record,) = seeded.store.list_quarantine().items
    assert [r.type for r in record.reasons] == ["json_invalid"]


@pytest.mark.invokes("warehouse_events")
def test_a_release_completed_batch_closes_the_released_order_through_the_worker(
        worker: WorkerClient, released: Deps) -> None:
    batch = [completed("wh-done-1"), b"{not json", completed("wh-done-1")]

    worker.succeed("warehouse_events", warehouse(batch, "collection_bytes"))

    order = released.store.get_order(ORDER)
    assert order is not None and order.status == OrderStatus.CLOSED
    assert on_hand(released) == {"ANT-4T4R-B41": (7, 0), "RRU-B41-160W": (7, 0), "CBL-HYB-30M": (4, 0)}
    run = newest_job(released, "ingest-warehouse-events")
    assert counts(run, "modified", "quarantined", "skipped_duplicate") == {
        "modified": 1, "quarantined": 1, "skipped_duplicate": 1}
    assert "oms.order.closed" in {e.type for e in released.store.outbox_events(ORDER)}
    assert released.store.order_audit(ORDER)[-1].correlation_id == "wh-done-1"
