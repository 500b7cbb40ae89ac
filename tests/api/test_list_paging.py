"""`GET /api/audit` and `GET /api/quarantine` page with `limit` and
`continuation` like every list (CONTRACT.md: `{"items", "continuation"}`):
a cut list says so, the pages add up to the whole list, and a token the API
did not hand out for that list is a 422."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.domain.models import QuarantineRecord, Reason
from common.service.bootstrap import Deps
from tests.api.conftest import auth


def every_page(client: TestClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    continuation = None
    for _ in range(500):
        query = {**params, **({"continuation": continuation} if continuation else {})}
        response = client.get(path, params=query, headers=auth("viewer"))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        continuation = pages[-1]["continuation"]
        if continuation is None:
            return pages
    raise AssertionError("the continuation never ended")


@pytest.fixture
def quarantined(loaded: Deps) -> Deps:
    now = loaded.clock.now()
    for n in range(7):
        loaded.store.put_quarantine(QuarantineRecord(
            id=f"q-page-{n}", source="test", received_at=now + timedelta(minutes=n % 3),
            reasons=[Reason(msg="bad")], payload=n, status="discarded" if n == 4 else "open"))
    return loaded


@pytest.mark.parametrize("params", [{}, {"project_id": "PRJ-0000101"}])
def test_audit_pages_add_up_to_the_whole_trail_oldest_first(client: TestClient, loaded: Deps,
                                                            params: dict[str, Any]) -> None:
    whole = client.get("/api/audit", params={**params, "limit": 5000}, headers=auth("viewer")).json()
    assert whole["continuation"] is None and len(whole["items"]) > 2

    pages = every_page(client, "/api/audit", {**params, "limit": 2})

    assert pages[0]["continuation"] is not None  # a cut list says so
    assert [e["audit_id"] for p in pages for e in p["items"]] == [e["audit_id"] for e in whole["items"]]
    assert all(len(p["items"]) == 2 for p in pages[:-1])


@pytest.mark.parametrize("status", [None, "open"])
def test_quarantine_pages_add_up_to_the_whole_list_newest_first(client: TestClient, quarantined: Deps,
                                                                status: str | None) -> None:
    params = {"status": status} if status else {}
    whole = client.get("/api/quarantine", params={**params, "limit": 1000}, headers=auth("viewer")).json()
    assert whole["continuation"] is None and len(whole["items"]) > 3
    assert ("q-page-4" in [r["id"] for r in whole["items"]]) == (status is None)  # the filter holds

    pages = every_page(client, "/api/quarantine", {**params, "limit": 3})

    assert [r["id"] for p in pages for r in p["items"]] == [r["id"] for r in whole["items"]]
    assert [r["received_at"] for r in whole["items"]] == sorted((r["received_at"] for r in whole["items"]),
                                                                reverse=True)


@pytest.mark.parametrize("path", ["/api/audit", "/api/quarantine"])
def test_a_continuation_token_not_handed_out_for_that_list_is_422(client: TestClient, quarantined: Deps,
                                                                  path: str) -> None:
    tokens = {other: client.get(other, params={"limit": 1}, headers=auth("viewer")).json()["continuation"]
              for other in ("/api/audit", "/api/quarantine", "/api/orders")}
    assert all(tokens.values())
    foreign = [t for other, t in tokens.items() if other != path]

    for token in ["@@@", "not a token", "e30=", tokens[path] + "A", *foreign]:
        response = client.get(path, params={"continuation": token}, headers=auth("viewer"))
        assert response.status_code == 422, (token, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert ["query", "continuation"] in [e["loc"] for e in response.json()["errors"]]
    assert client.get(path, params={"continuation": tokens[path]}, headers=auth("viewer")).status_code == 200
