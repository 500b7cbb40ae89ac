"""Replenishment through the real worker: a reorder-policy Parquet blob loads
its policies and opens the requests its thresholds call for; the what-if
and the replenishment list answer through the HTTP trigger."""

from __future__ import annotations

import json

import pytest

from common.domain.replenishment import partition_of
from common.service.bootstrap import Deps
from tests.api.conftest import auth
from tests.helpers.warehouse import WH, stock_up
from tests.worker import payloads
from tests.worker.conftest import WorkerClient
from tests.worker.test_blobs import job_of, parquet
from tests.worker.test_http import call

ANT, RRU = "ANT-4T4R-B41", "RRU-B41-160W"


@pytest.mark.invokes("reorder_policy_blob")
def test_a_reorder_policy_parquet_blob_loads_policies_and_opens_requests_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    stock_up(seeded, {ANT: 2, RRU: 40})
    rows = [{"warehouse_id": WH, "sku": ANT, "reorder_point": 10, "target_level": 30, "lead_time_days": 7},
            {"warehouse_id": WH, "sku": RRU, "reorder_point": 10, "target_level": 30, "lead_time_days": 7},
            {"warehouse_id": WH, "sku": "NOT-A-SKU", "reorder_point": 1, "target_level": 2, "lead_time_days": 1}]
    import pyarrow as pa

    schema = pa.schema([("warehouse_id", pa.string()), ("sku", pa.string()), ("reorder_point", pa.int32()),
                        ("target_level", pa.int32()), ("lead_time_days", pa.int16())])

    worker.succeed("reorder_policy_blob", payloads.blob("reorder_policy_blob", "reorder-policy",
                                                        "policy/2026-12-01.parquet", parquet(rows, schema)))

    assert [(p.sku, p.reorder_point) for p in seeded.store.reorder_policies()] == [(ANT, 10), (RRU, 10)]
    run = job_of(seeded, "ingest-reorder-policy")
    assert (run.source, run.counts["new"], run.counts["quarantined"]) == ("blob:policy/2026-12-01.parquet", 2, 1)
    [request] = seeded.store.replenishment_requests()
    assert (request.sku, request.quantity, request.opened_by) == (ANT, 28, "policy")
    [event] = seeded.store.outbox_events(request.request_id)
    assert event.type == "oms.stock.replenishment_requested" and event.project_id == partition_of(WH)


@pytest.mark.invokes("http_app_func")
def test_the_replenishment_list_and_a_what_if_answer_through_the_http_trigger(worker: WorkerClient,
                                                                              seeded: Deps) -> None:
    stock_up(seeded, {ANT: 2})
    from common.domain.replenishment import ReorderPolicy
    from common.service.commands import EvaluateReplenishment
    from common.service.handlers.replenishment import evaluate_replenishment

    seeded.store.put_reorder_policies([ReorderPolicy(warehouse_id=WH, sku=ANT, reorder_point=5, target_level=9,
                                                     lead_time_days=3)])
    evaluate_replenishment(seeded, EvaluateReplenishment("manual"))

    status, _, listing = call(worker, "GET", "/api/inventory/replenishment", auth("viewer"))
    asked, _, simulation = call(
        worker, "POST", "/api/allocation/simulations", {**auth("planner"), "Content-Type": "application/json"},
        json.dumps({"extra_stock": [{"warehouse_id": WH, "sku": ANT, "qty": 5}]}).encode())

    assert status == 200, listing
    assert [i["quantity"] for i in listing["items"]] == [7]
    assert asked == 200, simulation
    assert simulation["written"] is False and simulation["plan"]["counts"]["considered"] == 0
