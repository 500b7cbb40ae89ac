"""HTTP semantics a client relies on: If-Match holds alike on every route that
takes it (one tag, a list, `*`; weak tags never match), OPTIONS and 405
answer the full `Allow`, HEAD is GET without the body, and the OpenAPI
document says all of it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from common.service.bootstrap import Deps
from tests.api.conftest import auth, first_order

ACTIONS = {"approve": ("approver", {}), "cancel": ("planner", {}), "items": ("planner", {
    "items": [{"sku": "ANT-4T4R-B41", "qty": 1, "uom": "EA"}]})}


def _etag(client: TestClient, order_id: str) -> str:
    return client.get(f"/api/orders/{order_id}", headers=auth("viewer")).headers["etag"]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_if_match_list_holding_the_current_etag_is_accepted_on_every_action_route(
        client: TestClient, loaded: Deps, action: str) -> None:
    order_id = first_order(loaded)
    role, body = ACTIONS[action]
    tags = f'"stale-1", {_etag(client, order_id)}, "stale-2"'
    response = client.post(f"/api/orders/{order_id}/{action}", json=body,
                           headers={**auth(role), "If-Match": tags})
    assert response.status_code == 200, response.text


def test_an_if_match_list_holding_the_current_etag_is_accepted_on_patch(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    response = client.patch(f"/api/orders/{order_id}", json={"need_by": "2027-01-15"},
                            headers={**auth("planner"), "If-Match": f'"stale", {_etag(client, order_id)}'})
    assert response.status_code == 200, response.text
    assert response.json()["need_by"] == "2027-01-15"


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_a_weak_etag_never_matches(client: TestClient, loaded: Deps, action: str) -> None:
    order_id = first_order(loaded)
    role, body = ACTIONS[action]
    response = client.post(f"/api/orders/{order_id}/{action}", json=body,
                           headers={**auth(role), "If-Match": f"W/{_etag(client, order_id)}"})
    assert response.status_code == 412


def test_a_weak_etag_never_matches_on_patch(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    response = client.patch(f"/api/orders/{order_id}", json={"lines": []},
                            headers={**auth("planner"), "If-Match": f"W/{_etag(client, order_id)}"})
    assert response.status_code == 412


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_an_if_match_list_of_stale_tags_is_a_412(client: TestClient, loaded: Deps, action: str) -> None:
    order_id = first_order(loaded)
    role, body = ACTIONS[action]
    response = client.post(f"/api/orders/{order_id}/{action}", json=body,
                           headers={**auth(role), "If-Match": '"stale-1", "stale-2"'})
    assert response.status_code == 412
    assert loaded.store.get_order(order_id).status.value == "Draft"  # type: ignore[union-attr]


def test_options_answers_204_with_every_method_of_the_path(client: TestClient) -> None:
    response = client.options("/api/orders/PRJ-1~S~NewBuild~1")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PATCH"
    assert client.options("/api/orders/x/approve").headers["allow"] == "OPTIONS, POST"


def test_a_method_not_allowed_names_every_allowed_method(client: TestClient) -> None:
    response = client.delete("/api/orders/PRJ-1~S~NewBuild~1", headers=auth("admin"))
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, PATCH"
    assert response.headers["content-type"] == "application/problem+json"


def test_options_on_an_unknown_path_is_a_404(client: TestClient) -> None:
    assert client.options("/api/no-such-thing").status_code == 404


def test_head_is_get_without_the_body(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    get = client.get(f"/api/orders/{order_id}", headers=auth("viewer"))
    head = client.head(f"/api/orders/{order_id}", headers=auth("viewer"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == get.headers["content-length"]


def test_the_openapi_document_marks_if_match_and_describes_continuations(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]

    def header(path: str, method: str) -> dict[str, object]:
        [found] = [p for p in paths[path][method]["parameters"] if p["name"] == "If-Match"]
        return found

    assert header("/api/orders/{order_id}", "patch")["required"] is True
    assert header("/api/orders/{order_id}/approve", "post")["required"] is False
    assert "comma-separated list" in str(header("/api/orders/{order_id}/approve", "post")["description"])
    for path in ("/api/orders", "/api/audit", "/api/projects", "/api/quarantine"):
        [token] = [p for p in paths[path]["get"]["parameters"] if p["name"] == "continuation"]
        assert "Opaque token" in token["description"] and "422" in token["description"]
