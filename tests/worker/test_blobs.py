"""The Event-Grid-source blob triggers through the worker: the blob's bytes
with the binding data the host sends (BlobTrigger, Uri, Properties with
Length, Metadata, the path's {name})."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.domain.models import OrderStatus
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from tests.conftest import SAMPLES
from tests.helpers.warehouse import design_event
from tests.worker import payloads
from tests.worker.conftest import WorkerClient

PROJECT_MASTER = pa.schema([
    ("project_id", pa.string()), ("site_code", pa.string()), ("market", pa.string()), ("region", pa.string()),
    ("latitude", pa.float64()), ("longitude", pa.float64()), ("project_status", pa.string()),
    ("milestone", pa.string()), ("plan_type", pa.string()), ("national_priority", pa.int32()),
    ("gated", pa.bool_()), ("warehouse_id", pa.string()), ("updated_at", pa.timestamp("ms", tz="UTC")),
])
ITEM_CATALOG = pa.schema([("sku", pa.string()), ("description", pa.string()), ("uom", pa.string()),
                          ("active", pa.bool_())])
STOCK = pa.schema([("warehouse_id", pa.string()), ("sku", pa.string()), ("on_hand", pa.int64()),
                   ("as_of", pa.timestamp("us"))])
BLOBS = {"project_master_blob": "project-master", "item_catalog_blob": "item-catalog",
         "stock_snapshots_blob": "stock-snapshots"}


def sample_rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLES / name).read_text().splitlines() if line.strip()]


def parquet(rows: list[dict[str, Any]], schema: pa.Schema) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    return bytes(sink.getvalue().to_pybytes())


def master_rows() -> list[dict[str, Any]]:
    rows = sample_rows("project-master.jsonl")
    for row in rows:
        row["updated_at"] = datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))
    return rows


def job_of(deps: Deps, job: str) -> Any:
    (run,) = [j for j in deps.store.list_jobs(50) if j.job == job]
    return run


@pytest.mark.invokes("project_master_blob")
def test_a_project_master_parquet_blob_loads_its_rows_and_frees_parked_designs_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    # PRJ-0000103 is at SiteSurvey in the samples: its design is parked.
    ingest_engineering_events(seeded, IngestEngineeringEvents(
        [design_event("evt-parked", project="PRJ-0000103", site="CHI-00987")], channel="file"))
    assert seeded.store.query_orders(OrderQuery()).items == []
    rows = master_rows()
    for row in rows:
        if row["project_id"] == "PRJ-0000103":
            row["milestone"] = "MilestoneApproved"
    content = parquet(rows, PROJECT_MASTER)

    worker.succeed("project_master_blob",
                   payloads.blob("project_master_blob", "project-master", "master-2026-12-01.parquet", content))

    stored = seeded.store.get_projects([r["project_id"] for r in rows])
    assert {p: (s.milestone, s.national_priority, s.warehouse_id) for p, s in stored.items()} == {
        r["project_id"]: (r["milestone"], r["national_priority"], r["warehouse_id"]) for r in rows}
    run = job_of(seeded, "ingest-project-master")
    assert (run.source, run.status, run.details["rejected"]) == ("blob:master-2026-12-01.parquet", "succeeded", False)
    assert run.counts["rows_read"] == len(rows) and run.counts["quarantined"] == 0
    (order,) = seeded.store.query_orders(OrderQuery()).items
    assert (order.project_id, order.status) == ("PRJ-0000103", OrderStatus.DRAFT)


@pytest.mark.invokes("item_catalog_blob")
def test_an_item_catalog_parquet_blob_loads_its_rows_through_the_worker(worker: WorkerClient, deps: Deps) -> None:
    rows = [*sample_rows("item-catalog.jsonl"),
            {"sku": "PWR-RECT-48V", "description": "Rectifier 48 V", "uom": "EA", "active": False}]
    content = parquet(rows, ITEM_CATALOG)

    worker.succeed("item_catalog_blob", payloads.blob("item_catalog_blob", "item-catalog", "catalog.parquet", content))

    stored = deps.store.get_catalog([r["sku"] for r in rows])
    assert {sku: (item.description, item.active) for sku, item in stored.items()} == {
        r["sku"]: (r["description"], r["active"]) for r in rows}
    run = job_of(deps, "ingest-item-catalog")
    assert (run.source, run.counts["new"], run.counts["quarantined"]) == ("blob:catalog.parquet", len(rows), 0)


@pytest.mark.invokes("stock_snapshots_blob")
def test_a_stock_snapshot_parquet_blob_sets_on_hand_and_quarantines_its_bad_rows_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    as_of = datetime(2026, 11, 30, 6, 0)
    rows = [{"warehouse_id": "WH-EAST", "sku": "ANT-4T4R-B41", "on_hand": 12, "as_of": as_of},
            {"warehouse_id": "WH-EAST", "sku": "CBL-HYB-30M", "on_hand": 20, "as_of": as_of},
            {"warehouse_id": "WH-CENTRAL", "sku": "BBU-5G-SA", "on_hand": 2, "as_of": as_of},
            {"warehouse_id": "WH-EAST", "sku": "NOT-A-SKU", "on_hand": 5, "as_of": as_of}]

    worker.succeed("stock_snapshots_blob",
                   payloads.blob("stock_snapshots_blob", "stock-snapshots", "stock/2026-11-30.parquet",
                                 parquet(rows, STOCK)))

    assert seeded.inventory is not None
    assert {(r.warehouse_id, r.sku): r.on_hand for r in seeded.inventory.stock()} == {
        ("WH-EAST", "ANT-4T4R-B41"): 12, ("WH-EAST", "CBL-HYB-30M"): 20, ("WH-CENTRAL", "BBU-5G-SA"): 2}
    run = job_of(seeded, "ingest-stock-snapshots")
    assert (run.source, run.counts["new"], run.counts["quarantined"]) == ("blob:stock/2026-11-30.parquet", 3, 1)
    (record,) = seeded.store.list_quarantine().items
    assert record.source == "stock-snapshots" and record.payload["whole_file"] is False
    assert [(r.loc, r.type) for r in record.reasons] == [(["row", 3, "sku"], "unknown_reference")]


@pytest.mark.invokes(*BLOBS)
def test_a_blob_that_is_not_parquet_is_quarantined_whole_and_each_blob_function_still_succeeds(
        worker: WorkerClient, seeded: Deps) -> None:
    projects = seeded.store.list_projects().items
    content = b"project_id,site_code\nPRJ-1,NYC-1\n"  # a CSV dropped in by mistake

    for function, container in BLOBS.items():
        worker.succeed(function, payloads.blob(function, container, "dump.csv", content))

    records = {r.source: r for r in seeded.store.list_quarantine().items}
    assert set(records) == set(BLOBS.values())
    for container, record in records.items():
        assert record.payload["whole_file"] is True and record.payload["file"] == "dump.csv", container
        assert record.payload["bytes"] == len(content)
        run = job_of(seeded, f"ingest-{container}")
        assert (run.status, run.details["rejected"], run.details["quarantine_id"]) == ("rejected", True, record.id)
    assert seeded.store.list_projects().items == projects
    assert seeded.inventory is not None and seeded.inventory.stock() == []
