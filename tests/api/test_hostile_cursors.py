"""Continuation tokens are opaque and checked: a token forged, taken from
another list, or holding a value out of range is a 422 problem naming the
parameter, never a 500 and never a page of the wrong list."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient

from common.adapters.tokens import cursor, cursor_token
from common.ports import NotAToken
from common.service.bootstrap import Deps
from tests.api.conftest import auth

LISTS = {"orders": "/api/orders", "audit": "/api/audit", "projects": "/api/projects",
         "quarantine": "/api/quarantine"}


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


FORGED = {
    "not base64": "%%%not-a-token%%%",
    "base64 garbage": base64.urlsafe_b64encode(b"\xff\xfe\x00garbage").decode(),
    "plain base64 id": base64.urlsafe_b64encode(b"PRJ-0000101~NYC-00417~NewBuild~1").decode(),
    "audit key past 64 bits": _token({"audit": ["2026-11-20T08:00:00+00:00", 2**70]}),
    "audit key of the wrong types": _token({"audit": [True, "1"]}),
    "quarantine key not a string": _token({"quarantine": [1, 2]}),
    "orders key empty": _token({"orders": ""}),
    "a 600-digit number": base64.urlsafe_b64encode(b'{"audit": ["t", ' + b"9" * 600 + b"]}").decode(),
    "NaN": _token({"orders-entered": [float("nan"), "x"]}),
}


@pytest.mark.parametrize("route", sorted(LISTS))
@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_continuation_token_is_a_422_problem(client: TestClient, loaded: Deps, route: str,
                                                      case: str) -> None:
    response = client.get(LISTS[route], params={"continuation": FORGED[case]}, headers=auth("viewer"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"loc": ["query", "continuation"], "msg": "not a continuation token",
                                          "type": "invalid_continuation"}]


@pytest.mark.parametrize("source", sorted(LISTS))
@pytest.mark.parametrize("target", sorted(LISTS))
def test_a_token_of_one_list_does_not_page_another(client: TestClient, loaded: Deps, source: str,
                                                   target: str) -> None:
    if source == target:
        pytest.skip("the same list")
    keys: dict[str, object] = {"orders": "PRJ-0000101~NYC-00417~NewBuild~1", "projects": "PRJ-0000101",
                               "audit": ["2026-11-20T08:00:00+00:00", 1],
                               "quarantine": ["2026-11-20T08:00:00+00:00", "q-1"]}
    token = cursor_token(source, keys[source])
    response = client.get(LISTS[target], params={"continuation": token}, headers=auth("viewer"))
    assert response.status_code == 422, response.text


def test_a_real_token_pages_on(client: TestClient, loaded: Deps) -> None:
    first = client.get("/api/orders", params={"limit": 1}, headers=auth("viewer")).json()
    assert first["continuation"]
    second = client.get("/api/orders", params={"limit": 1, "continuation": first["continuation"]},
                        headers=auth("viewer"))
    assert second.status_code == 200 and second.json()["items"][0]["order_id"] > first["items"][0]["order_id"]


def test_cursor_checks_the_shape_and_range_of_the_key() -> None:
    assert cursor("audit", cursor_token("audit", ["t", 2**63 - 1]), (str, int)) == ["t", 2**63 - 1]
    for key in (["t", 2**63], ["t", True], ["t"], "t", ["", 1]):
        with pytest.raises(NotAToken):
            cursor("audit", cursor_token("audit", key), (str, int))
    with pytest.raises(NotAToken):
        cursor("orders", cursor_token("projects", "P1"))
