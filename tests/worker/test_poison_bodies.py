"""One poison body in an Event Hub batch costs that body alone, through the
worker: the functions ask the host for each body's bytes (dataType binary),
so the azure-functions library never runs json.loads over the batch, and
the bounded decoder quarantines the poison body with its reason while the
rest of the batch is applied."""

from __future__ import annotations

import json

import pytest

from common.ports import OrderQuery
from common.service.bootstrap import Deps
from tests.helpers.warehouse import ORDER, design_event
from tests.service.test_poison_json import POISON
from tests.worker import payloads
from tests.worker.conftest import WorkerClient, WorkerHost


@pytest.mark.parametrize("function", ["engineering_events", "warehouse_events"])
def test_the_event_hub_triggers_ask_the_host_for_each_bodys_bytes(worker_host: WorkerHost, function: str) -> None:
    [trigger] = [b for b in worker_host.ready["functions"][function]["bindings"] if b["type"] == "eventHubTrigger"]
    assert trigger["dataType"] == "BINARY", trigger


@pytest.mark.invokes("engineering_events")
def test_one_poison_body_of_each_kind_is_quarantined_alone_and_the_batch_is_applied(
        worker: WorkerClient, seeded: Deps) -> None:
    good = [json.dumps(design_event(f"evt-{n}", version=n, items={"ANT-4T4R-B41": n})).encode() for n in (1, 2, 3)]
    bodies = [good[0], *(text.encode() for text, _ in POISON.values()), good[1], good[2]]

    worker.succeed("engineering_events", payloads.event_hub_batch(
        "engineering_events", "engineering-events", bodies, form="collection_bytes", partition_key="PRJ-0000101"))

    [order] = seeded.store.query_orders(OrderQuery()).items
    assert (order.order_id, order.design_version) == (ORDER, 3)
    records = seeded.store.list_quarantine(limit=100).items
    assert sorted(r.reasons[0].type for r in records) == sorted(kind for _, kind in POISON.values())
    [run] = [r for r in seeded.store.list_jobs(10) if r.job == "ingest-engineering-events"]
    assert (run.status, run.counts["received"], run.counts["quarantined"]) == ("succeeded", 3 + len(POISON),
                                                                               len(POISON))


@pytest.mark.invokes("warehouse_events")
def test_a_poison_warehouse_body_is_quarantined_alone(worker: WorkerClient, seeded: Deps) -> None:
    text, kind = POISON["nested 5000 deep"]

    worker.succeed("warehouse_events", payloads.event_hub_batch(
        "warehouse_events", "warehouse-events", [text.encode()], form="collection_bytes", partition_key="WH-EAST"))

    [record] = seeded.store.list_quarantine().items
    assert record.source == "warehouse-events" and record.reasons[0].type == kind and record.payload == text
