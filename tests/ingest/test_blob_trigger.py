"""The Blob-triggered functions, called with real binding objects."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
from azure.functions.blob import InputStream

from common.service.bootstrap import Deps, set_deps
from functions import master_data
from tests.ingest.conftest import all_projects, master_table, project_row
from tests.ingest.test_catalog_and_stock import catalog_table


def _blob(name: str, data: bytes) -> InputStream:
    return InputStream(data=data, name=name, length=len(data), uri=f"https://example/{name}")


def _parquet(table: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_a_master_blob_loads_projects_as_one_job_run(deps: Deps) -> None:
    set_deps(deps)
    try:
        master_data.project_master_blob(_blob("project-master/2026-11-20.parquet",
                                              _parquet(master_table([project_row(1), project_row(2)]))))
    finally:
        set_deps(None)
    assert set(all_projects(deps)) == {"PRJ-0000001", "PRJ-0000002"}
    [job] = deps.store.list_jobs()
    assert job.job == "ingest-project-master" and job.source == "blob:2026-11-20.parquet"
    assert job.counts["new"] == 2


def test_a_catalogue_blob_that_is_not_parquet_is_quarantined_without_raising(deps: Deps) -> None:
    set_deps(deps)
    try:
        master_data.item_catalog_blob(_blob("item-catalog/items.csv", b"sku,description\nA,x\n"))
        master_data.item_catalog_blob(_blob("item-catalog/items.parquet", _parquet(catalog_table([("A", True)]))))
    finally:
        set_deps(None)
    [record] = deps.store.list_quarantine().items
    assert record.source == "item-catalog" and record.reasons[0].type == "not_parquet"
    assert record.payload["file"] == "items.csv"
    assert set(deps.store.get_catalog(["A"])) == {"A"}


def test_blob_functions_bind_the_three_containers_event_based_on_the_storage_connection() -> None:
    import json

    import azure.functions as func

    # A fresh app: `get_functions()` may be called once per app object, and
    # function_app's own app belongs to the indexing test.
    app = func.FunctionApp()
    app.register_functions(master_data.bp)
    bindings = {}
    for function in app.get_functions():
        spec = json.loads(function.get_function_json())
        for binding in spec["bindings"]:
            if binding["type"] == "blobTrigger":
                bindings[function.get_function_name()] = (binding["path"], binding["connection"],
                                                          binding["source"])
    assert bindings == {
        "project_master_blob": ("project-master/{name}", "AzureWebJobsStorage", "EventGrid"),
        "item_catalog_blob": ("item-catalog/{name}", "AzureWebJobsStorage", "EventGrid"),
        "stock_snapshots_blob": ("stock-snapshots/{name}", "AzureWebJobsStorage", "EventGrid"),
        "reorder_policy_blob": ("reorder-policy/{name}", "AzureWebJobsStorage", "EventGrid"),
    }
