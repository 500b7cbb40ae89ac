"""The HTTP API held to CONTRACT.md at its edges: preconditions before the
body, what counts as "not JSON", continuation tokens, quarantine reprocess
of every source, and the allocation run's body."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from common.domain.models import CatalogItem
from common.service.bootstrap import Deps
from common.service.handlers.datasets import ingest_dataset_file
from tests.api.conftest import auth, first_order
from tests.ingest.conftest import master_table, project_row

PLANNER_JSON = {**auth("planner"), "Content-Type": "application/json"}
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def _read(client: TestClient, order_id: str) -> dict[str, Any]:
    response = client.get(f"/api/orders/{order_id}", headers=auth("viewer"))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------ preconditions before the body

@pytest.mark.parametrize(("content", "media"), [
    (b"{not json", "application/json"),
    (json.dumps({"lines": [{"sku": "NOPE-1", "qty": 1}]}).encode(), "application/json"),
    (json.dumps({"no_such_field": 1}).encode(), "application/merge-patch+json"),
    (b"[]", "application/json"),
    (b"need_by=2027-01-01", "application/x-www-form-urlencoded"),
], ids=["malformed", "unknown-sku", "unknown-field", "not-an-object", "wrong-media-type"])
def test_a_stale_if_match_is_412_whatever_the_body(client: TestClient, loaded: Deps, content: bytes,
                                                   media: str) -> None:
    order_id = first_order(loaded)
    before = _read(client, order_id)
    response = client.patch(f"/api/orders/{order_id}", content=content,
                            headers={**auth("planner"), "Content-Type": media, "If-Match": '"stale"'})
    assert response.status_code == 412, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert _read(client, order_id) == before


def test_an_if_match_on_an_unknown_order_is_404_before_the_body_is_read(client: TestClient, loaded: Deps) -> None:
    response = client.patch("/api/orders/NO-SUCH-ORDER", content=b"{not json",
                            headers={**PLANNER_JSON, "If-Match": '"anything"'})
    assert response.status_code == 404
    assert response.json()["type"].endswith("not-found")


def test_if_match_may_list_several_etags_and_one_current_is_enough(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    etag = _read(client, order_id)["etag"]
    response = client.patch(f"/api/orders/{order_id}", content=json.dumps({"need_by": "2027-04-01"}),
                            headers={**PLANNER_JSON, "If-Match": f'"older", "{etag}"'})
    assert response.status_code == 200, response.text
    assert response.json()["need_by"] == "2027-04-01"


# --------------------------------------------------- an empty body is not JSON

@pytest.mark.parametrize("path", ["/api/events/engineering", "/api/warehouse/callbacks"])
def test_an_empty_intake_body_is_400_and_nothing_is_quarantined(client: TestClient, loaded: Deps,
                                                                path: str) -> None:
    before = len(loaded.store.list_quarantine(None, 1000).items)
    response = client.post(path, content=b"", headers={**auth("integration"), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert len(loaded.store.list_quarantine(None, 1000).items) == before


def test_an_empty_patch_body_is_400_and_changes_nothing(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    before = _read(client, order_id)
    response = client.patch(f"/api/orders/{order_id}", content=b"",
                            headers={**PLANNER_JSON, "If-Match": before["etag"]})
    assert response.status_code == 400
    assert _read(client, order_id) == before


# ------------------------------------------------------- continuation tokens

@pytest.mark.parametrize("path", ["/api/orders", "/api/projects"])
@pytest.mark.parametrize("token", ["@@@", "!!!!", "not a token"])
def test_a_continuation_token_the_api_did_not_hand_out_is_422(client: TestClient, loaded: Deps, path: str,
                                                              token: str) -> None:
    response = client.get(path, params={"continuation": token}, headers=auth("viewer"))
    assert response.status_code == 422, response.text
    assert ["query", "continuation"] in [e["loc"] for e in response.json()["errors"]]


# ------------------------------------------- quarantine reprocess, every source

def _write(tmp_path: Path, name: str, table: pa.Table) -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def _only_open(deps: Deps, source: str) -> str:
    (record,) = [q for q in deps.store.list_quarantine("open", 1000).items if q.source == source]
    return record.id


def test_quarantined_stock_rows_are_reprocessed_over_http_once_the_sku_exists(
        client: TestClient, loaded: Deps, tmp_path: Path) -> None:
    table = pa.table({"warehouse_id": ["WH-EAST", "WH-EAST"], "sku": ["ANT-4T4R-B41", "NEW-SKU-1"],
                      "on_hand": pa.array([4, 6], pa.int32()),
                      "as_of": pa.array([AS_OF] * 2, pa.timestamp("ms", tz="UTC"))})
    ingest_dataset_file(loaded, "stock", _write(tmp_path, "stock.parquet", table))
    record_id = _only_open(loaded, "stock-snapshots")

    still = client.post(f"/api/quarantine/{record_id}/reprocess", headers=auth("operator"))
    assert still.status_code == 200, still.text
    assert still.json()["record"]["status"] == "open"
    assert still.json()["job"]["counts"]["quarantined"] == 1

    loaded.store.put_catalog([CatalogItem(sku="NEW-SKU-1")])
    done = client.post(f"/api/quarantine/{record_id}/reprocess", headers=auth("operator"))
    assert done.status_code == 200, done.text
    assert done.json()["record"]["status"] == "reprocessed"
    assert done.json()["job"]["counts"]["new"] == 1
    assert loaded.inventory is not None
    assert {(r.sku, r.on_hand) for r in loaded.inventory.stock("WH-EAST")} >= {("NEW-SKU-1", 6)}


def test_quarantined_project_rows_are_reprocessed_over_http(client: TestClient, loaded: Deps,
                                                            tmp_path: Path) -> None:
    table = master_table([project_row(901), project_row(902, national_priority=0)])
    ingest_dataset_file(loaded, "master", _write(tmp_path, "master.parquet", table))
    record_id = _only_open(loaded, "project-master")

    response = client.post(f"/api/quarantine/{record_id}/reprocess", headers=auth("operator"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record"]["id"] == record_id
    assert body["job"]["job"] == "ingest-project-master"
    assert body["results"] == []


def test_a_catalogue_file_whose_every_row_was_bad_can_be_reprocessed(client: TestClient, loaded: Deps,
                                                                    tmp_path: Path) -> None:
    table = pa.table({"sku": ["DUP-1", "DUP-1"], "description": ["a", "b"], "uom": ["EA", "EA"],
                      "active": [True, True]})
    job = ingest_dataset_file(loaded, "catalog", _write(tmp_path, "catalog.parquet", table))
    assert job.counts["quarantined"] == 2
    record_id = _only_open(loaded, "item-catalog")

    response = client.post(f"/api/quarantine/{record_id}/reprocess", headers=auth("operator"))

    assert response.status_code == 200, response.text
    assert response.json()["record"]["status"] == "open"  # still duplicates: still quarantined


# ------------------------------------------------------------ allocation runs

@pytest.mark.parametrize("send", [{}, {"content": b""}, {"json": None}, {"json": {}}, {"json": {"mode": "greedy"}}],
                         ids=["no-body", "empty-body", "null", "empty-object", "mode-only"])
def test_an_allocation_run_without_an_explicit_dry_run_is_422_naming_it_and_runs_nothing(
        client: TestClient, loaded: Deps, send: dict[str, Any]) -> None:
    jobs_before = loaded.store.list_jobs(100)

    response = client.post("/api/allocation/runs", headers={**auth("operator"), "Content-Type": "application/json"},
                           **send)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert "dry_run" in json.dumps(body["errors"]) + body["detail"]
    assert loaded.store.list_jobs(100) == jobs_before  # no allocation job ran


def test_an_allocation_run_with_dry_run_false_runs_and_answers_201_with_its_location(
        client: TestClient, loaded: Deps) -> None:
    response = client.post("/api/allocation/runs", json={"dry_run": False}, headers=auth("operator"))
    assert response.status_code == 201, response.text
    assert (response.json()["mode"], response.json()["dry_run"]) == ("greedy", False)
    assert response.headers["Location"] == f"/api/allocation/runs/{response.json()['run_id']}"


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_dry_run_must_be_a_json_boolean(client: TestClient, loaded: Deps, value: Any) -> None:
    response = client.post("/api/allocation/runs", json={"dry_run": value}, headers=auth("operator"))
    assert response.status_code == 422
    assert ["body", "dry_run"] in [e["loc"] for e in response.json()["errors"]]
    assert loaded.store.list_jobs(10) == [j for j in loaded.store.list_jobs(10) if j.job != "allocation"]
