"""The review API as the AsgiFunctionApp's HTTP trigger (`http_app_func`,
route `/{*route}`) through the worker: an RpcHttp in, an RpcHttp out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from tests.api.conftest import auth, first_order, sample_events
from tests.conftest import load_samples
from tests.worker import payloads
from tests.worker.conftest import WorkerClient

JSON, PROBLEM = "application/json", "application/problem+json"


@pytest.fixture
def loaded(deps: Deps) -> Deps:
    """Sample projects, catalogue and engineering events (Draft orders)."""
    load_samples(deps)
    ingest_engineering_events(deps, IngestEngineeringEvents(sample_events(), channel="file"))
    return deps


def call(worker: WorkerClient, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    result = worker.succeed("http_app_func", payloads.http(method, path, headers=headers, body=body))
    status, response_headers, content = payloads.http_response(result.return_value)
    return status, response_headers, json.loads(content) if content else None


@pytest.mark.invokes("http_app_func")
def test_an_order_read_through_the_worker_answers_the_order_with_its_etag(worker: WorkerClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    stored = loaded.store.get_order(order_id)
    assert stored is not None and stored.etag

    status, headers, body = call(worker, "GET", f"/api/orders/{order_id}", auth("viewer"))

    assert (status, headers["content-type"]) == (200, JSON)
    assert headers["etag"] == f'"{stored.etag}"'
    assert (body["order_id"], body["status"], body["revision"]) == (order_id, "Draft", stored.revision)
    assert {(line["sku"], line["qty"]) for line in body["lines"]} == set(stored.quantities().items())


@pytest.mark.invokes("http_app_func")
def test_an_edit_with_if_match_through_the_worker_changes_the_order_and_a_stale_one_is_412(
        worker: WorkerClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, read, _ = call(worker, "GET", f"/api/orders/{order_id}", auth("viewer"))
    headers = {**auth("planner"), "If-Match": read["etag"], "Content-Type": "application/merge-patch+json"}

    status, edited, body = call(worker, "PATCH", f"/api/orders/{order_id}", headers, b'{"need_by": "2027-04-01"}')

    assert (status, edited["content-type"], body["need_by"]) == (200, JSON, "2027-04-01")
    assert edited["etag"] != read["etag"]
    stored = loaded.store.get_order(order_id)
    assert stored is not None and stored.need_by is not None and stored.need_by.isoformat() == "2027-04-01"
    audit = loaded.store.order_audit(order_id)[-1]
    assert audit.actor.id == "planner-1" and "need_by" in [c.path for c in audit.changes]

    status, stale, problem = call(worker, "PATCH", f"/api/orders/{order_id}", headers, b'{"need_by": "2027-04-02"}')

    assert (status, stale["content-type"], problem["status"]) == (412, PROBLEM, 412)
    after = loaded.store.get_order(order_id)
    assert after is not None and after.need_by == stored.need_by


@pytest.mark.invokes("http_app_func")
def test_a_request_without_credentials_is_answered_401_by_the_app_through_the_worker(
        worker: WorkerClient, loaded: Deps) -> None:
    status, headers, problem = call(worker, "GET", "/api/orders")

    assert (status, headers["content-type"]) == (401, PROBLEM)
    assert problem["status"] == 401 and {"type", "title", "detail"} <= problem.keys()
    assert "items" not in problem


@pytest.mark.invokes("http_app_func")
def test_an_invalid_query_is_a_problem_json_422_through_the_worker(worker: WorkerClient, loaded: Deps) -> None:
    status, headers, problem = call(worker, "GET", "/api/orders?limit=0", auth("viewer"))

    assert (status, headers["content-type"]) == (422, PROBLEM)
    assert problem["status"] == 422 and ["query", "limit"] in [e["loc"] for e in problem["errors"]]


@pytest.mark.invokes("http_app_func")
def test_an_engineering_event_posted_through_the_worker_creates_an_order(worker: WorkerClient, deps: Deps) -> None:
    load_samples(deps)
    event = {"event_id": "evt-http-1", "event_type": "DesignApproved", "occurred_at": "2026-11-20T08:00:00Z",
             "project_id": "PRJ-0000101", "site_code": "NYC-00417", "order_type": "NewBuild", "design_version": 1,
             "items": [{"sku": "ANT-4T4R-B41", "qty": 2, "uom": "EA"}]}
    headers = {**auth("integration"), "Content-Type": "application/json"}

    status, _, body = call(worker, "POST", "/api/events/engineering", headers, json.dumps(event).encode())

    assert status == 200
    (result,) = body["results"]
    assert (result["event_id"], result["outcome"]) == ("evt-http-1", "created")
    order = deps.store.get_order(result["order_id"])
    assert order is not None and order.quantities() == {"ANT-4T4R-B41": 2}
