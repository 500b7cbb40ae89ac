"""Every error is application/problem+json; no stack trace reaches a client."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.service.bootstrap import Deps
from tests.api.conftest import auth, first_order

PROBLEM = "application/problem+json"


def _is_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    return body


def test_an_unknown_route_is_a_404_problem(client: TestClient) -> None:
    _is_problem(client.get("/api/nothing-here"), 404)
    _is_problem(client.get("/elsewhere"), 404)


def test_a_wrong_method_is_a_405_problem(client: TestClient) -> None:
    _is_problem(client.delete("/api/orders", headers=auth("admin")), 405)


def test_framework_validation_errors_are_422_problems_with_field_paths(client: TestClient) -> None:
    body = _is_problem(client.get("/api/orders", params={"limit": 0, "status": "Nope"}, headers=auth("viewer")), 422)
    locs = [e["loc"] for e in body["errors"]]  # type: ignore[attr-defined]
    assert ["query", "limit"] in locs and ["query", "status"] in locs


def test_a_body_that_is_not_json_is_a_400_problem(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    response = client.post(f"/api/orders/{order_id}/reject", content=b"{nope",
                           headers={**auth("approver"), "Content-Type": "application/json"})
    _is_problem(response, 400)


def test_a_body_over_the_limit_is_413_and_changes_nothing(client: TestClient, loaded: Deps) -> None:
    jobs = len(loaded.store.list_jobs(1000))
    big = b"[" + b",".join([b'{"event_id": "e"}'] * 5000) + b"]"
    _is_problem(client.post("/api/events/engineering", content=big,
                            headers={**auth("integration"), "Content-Type": "application/json"}), 413)
    assert len(loaded.store.list_jobs(1000)) == jobs


def test_a_streamed_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(100):
            yield b" " * 1000

    response = client.post("/api/events/engineering", content=chunks(),
                           headers={**auth("integration"), "Content-Type": "application/json"})
    _is_problem(response, 413)


def test_an_unexpected_failure_is_a_500_problem_with_a_correlation_id_and_no_trace(
        app: FastAPI, client: TestClient, loaded: Deps, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals at /srv/db")

    loaded.store.list_jobs = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="oms.api"):
        response = client.get("/api/jobs", headers=auth("viewer"))
    body = _is_problem(response, 500)
    assert "secret" not in response.text and "Traceback" not in response.text
    assert body["correlation_id"]
    assert any(body["correlation_id"] in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_missing_order_is_a_404_problem(client: TestClient) -> None:
    _is_problem(client.get("/api/orders/nope", headers=auth("viewer")), 404)
    _is_problem(client.post("/api/orders/nope/approve", headers=auth("approver")), 404)
