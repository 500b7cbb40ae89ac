"""Identity and roles: every guarded route refuses a caller without
credentials (401) or without its role (403), before it reads the body, and
nothing changes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from common.api.auth import RoleDependency
from common.service.bootstrap import Deps
from common.service.paging import all_audit, all_quarantine
from tests.api.conftest import auth, first_order

BODIES: dict[str, Any] = {
    "/api/orders/{order_id}": {"lines": [{"sku": "ANT-4T4R-B41", "qty": 1}]},
    "/api/orders/{order_id}/items": {"items": [{"sku": "ANT-4T4R-B41", "qty": 1}]},
    "/api/orders/{order_id}/reject": {"reason": "no"},
    "/api/events/engineering": {"event_id": "evt-auth", "event_type": "DesignApproved",
                                "occurred_at": "2026-11-21T00:00:00Z", "project_id": "PRJ-0000101",
                                "site_code": "NYC-00999", "order_type": "NewBuild", "design_version": 1,
                                "items": [{"sku": "ANT-4T4R-B41", "qty": 1}]},
    "/api/warehouse/callbacks": {"event_id": "wh-auth", "event_type": "StockAdjusted",
                                 "occurred_at": "2026-11-21T00:00:00Z", "warehouse_id": "WH-EAST",
                                 "sku": "ANT-4T4R-B41", "delta": 5, "reason": "cycle_count"},
    "/api/allocation/runs": {"dry_run": False, "mode": "greedy"},
}


def api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, APIRoute]]:
    """Every APIRoute with its full path (FastAPI keeps included routers nested)."""
    out: list[tuple[str, APIRoute]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append((prefix + route.path, route))
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            out.extend(api_routes(route.original_router.routes, prefix + (getattr(context, "prefix", "") or "")))
    return out


def guarded_routes(app: FastAPI) -> list[tuple[str, str, str]]:
    out = []
    for path, route in api_routes(app.router.routes):
        roles = [d.call.role for d in route.dependant.dependencies if isinstance(d.call, RoleDependency)]
        out.extend((method, path, roles[0].value) for method in route.methods if roles)
    return sorted(out)


def snapshot(deps: Deps) -> dict[str, Any]:
    store = deps.store
    from common.ports import OrderQuery

    return {
        "orders": {o.order_id: o.etag for o in store.query_orders(OrderQuery(limit=1000)).items},
        "audit": len(all_audit(store)),
        "outbox": len(store.outbox_events()),
        "quarantine": [(q.id, q.status, q.attempts) for q in all_quarantine(store)],
        "jobs": len(store.list_jobs(1000)),
        "stock": [(r.warehouse_id, r.sku, r.on_hand, r.reserved) for r in deps.inventory.stock()]
        if deps.inventory else [],
    }


def _call(client: TestClient, method: str, path: str, deps: Deps, headers: dict[str, str]) -> Any:
    order_id = first_order(deps)
    quarantined = deps.store.list_quarantine(limit=1).items
    url = (path.replace("{order_id}", order_id).replace("{project_id}", "PRJ-0000101")
           .replace("{run_id}", "run-1").replace("{record_id}", quarantined[0].id if quarantined else "q-1"))
    etag = deps.store.get_order(order_id).etag  # type: ignore[union-attr]
    return client.request(method, url, json=BODIES.get(path), headers={**headers, "If-Match": f'"{etag}"'})


def test_every_guarded_route_without_credentials_is_401_and_changes_nothing(
        app: FastAPI, client: TestClient, loaded: Deps) -> None:
    routes = guarded_routes(app)
    assert len(routes) >= 18
    before = snapshot(loaded)
    for method, path, _role in routes:
        response = _call(client, method, path, loaded, {})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        wrong = _call(client, method, path, loaded, {"X-API-Key": "not-a-key"})
        assert wrong.status_code == 401, (method, path)
    assert snapshot(loaded) == before


def test_every_guarded_route_with_the_wrong_role_is_403_and_changes_nothing(
        app: FastAPI, client: TestClient, loaded: Deps) -> None:
    before = snapshot(loaded)
    for method, path, role in guarded_routes(app):
        wrong = "integration" if role == "viewer" else "viewer"
        response = _call(client, method, path, loaded, auth(wrong))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["required_role"] == role
    assert snapshot(loaded) == before


def test_health_and_the_openapi_document_need_no_credentials(client: TestClient) -> None:
    assert client.get("/api/health").status_code == 200
    document = client.get("/api/openapi.json")
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")


def test_admin_holds_every_role(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    assert client.post(f"/api/orders/{order_id}/approve", headers=auth("admin")).status_code == 200
    assert client.get("/api/jobs", headers=auth("admin")).status_code == 200


def _principal(user: str, roles: list[str]) -> str:
    claims = [{"typ": "preferred_username", "val": user}] + [{"typ": "roles", "val": r} for r in roles]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims, "name_typ": "preferred_username",
                                        "role_typ": "roles"}).encode()).decode()


def test_the_app_service_principal_is_the_identity_where_the_platform_vouches_for_it(
        client: TestClient, loaded: Deps) -> None:
    loaded.settings = loaded.settings.model_copy(update={"trust_principal_header": True})
    order_id = first_order(loaded)
    headers = {"X-MS-CLIENT-PRINCIPAL": _principal("ana@example.com", ["approver"])}
    response = client.post(f"/api/orders/{order_id}/approve", headers=headers)
    assert response.status_code == 200
    assert response.json()["approved_by"] == "ana@example.com"
    entry = client.get(f"/api/orders/{order_id}/audit", headers=auth("viewer")).json()["items"][-1]
    assert entry["actor"] == {"type": "user", "id": "ana@example.com"}


@pytest.mark.parametrize("header", ["%%%not-base64", base64.b64encode(b"[1]").decode()])
def test_a_malformed_principal_is_401(client: TestClient, loaded: Deps, header: str) -> None:
    loaded.settings = loaded.settings.model_copy(update={"trust_principal_header": True})
    assert client.get("/api/jobs", headers={"X-MS-CLIENT-PRINCIPAL": header}).status_code == 401


def test_a_principal_header_is_ignored_where_the_platform_does_not_set_it(client: TestClient) -> None:
    response = client.get("/api/jobs", headers={"X-MS-CLIENT-PRINCIPAL": _principal("mallory", ["admin"])})
    assert response.status_code == 401
