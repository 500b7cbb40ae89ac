"""The reads the review console needs beside the contract's routes: the work
queue (filters, SLA breaches, time waiting, the longest waiting first, paged),
counts per state, an order's context (project facts, clearance, reservation,
events, last allocation, follow-ups), who the caller is, the allocation runs,
quarantine by source; and the pages a browser loads without a key."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.adapters.clock import FixedClock
from common.api.access_log import redact
from common.service.bootstrap import Deps
from common.service.commands import ApproveOrder, RunAllocation
from common.service.handlers import review
from common.service.handlers.allocation import run_allocation
from tests.api.conftest import auth, first_order
from tests.helpers.warehouse import APPROVER, stock_up


def queue(client: TestClient, role: str = "viewer", **params: Any) -> Any:
    response = client.get("/api/queue", params=params, headers=auth(role))
    assert response.status_code == 200, response.text
    return response.json()


def every_page(client: TestClient, **params: Any) -> list[str]:
    seen: list[str] = []
    token = None
    for _ in range(50):
        page = queue(client, **params, **({"continuation": token} if token else {}))
        seen += [o["order_id"] for o in page["items"]]
        token = page["continuation"]
        if token is None:
            return seen
    raise AssertionError("the continuation never ended")


def test_the_queue_pages_every_order_once_with_its_age_and_sla(client: TestClient, loaded: Deps) -> None:
    every = every_page(client, limit=1)
    assert len(every) == len(set(every)) == 3
    item = queue(client)["items"][0]
    assert item["status"] == "Draft" and item["age_hours"] >= 0
    assert item["sla_hours"] == loaded.settings.sla_hours.get("Draft") and item["breaching"] is False


def test_the_queue_finds_orders_waiting_past_their_sla_and_the_longest_waiting_first(
        client: TestClient, loaded: Deps, clock: FixedClock) -> None:
    sla = loaded.settings.sla_hours["Draft"]
    assert queue(client, sla_breached=True)["items"] == []
    oldest = first_order(loaded)
    clock.advance(timedelta(hours=sla + 1))
    approver = ApproveOrder(order_id=oldest, actor=APPROVER)
    review.approve_order(loaded, approver)  # enters Approved now: its clock starts again

    breaching = queue(client, sla_breached=True, status="Draft")["items"]
    assert {o["order_id"] for o in breaching} == set(every_page(client, status="Draft"))
    assert all(o["breaching"] and o["age_hours"] > sla for o in breaching)
    clock.advance(timedelta(minutes=30))
    assert queue(client, min_age_hours=1, status="Approved")["items"] == []
    assert [o["order_id"] for o in queue(client, min_age_hours=0.25, status="Approved")["items"]] == [oldest]
    waiting = every_page(client, sort="waiting", limit=1)
    assert waiting[-1] == oldest  # it entered its state last


def test_counts_per_state_follow_the_other_filters_and_list_every_state(client: TestClient, loaded: Deps) -> None:
    approve = ApproveOrder(order_id=first_order(loaded), actor=APPROVER)
    review.approve_order(loaded, approve)
    counts = client.get("/api/queue/counts", headers=auth("viewer")).json()

    assert counts["counts"]["Draft"] == 2 and counts["counts"]["Approved"] == 1 and counts["total"] == 3
    assert set(counts["counts"]) == {"Draft", "Approved", "Allocated", "Released", "Closed", "PartiallyReturned",
                                     "FullyReturned", "Cancelled"}
    market = client.get("/api/queue/counts", params={"market": "nowhere"}, headers=auth("viewer")).json()
    assert market["total"] == 0


@pytest.mark.parametrize("params", [{"status": "Lost"}, {"sort": "random"}, {"min_age_hours": -1},
                                    {"kind": "huge"}, {"continuation": "bm90LWEtdG9rZW4="}, {"limit": 0}])
def test_a_bad_queue_filter_is_a_422_naming_it(client: TestClient, loaded: Deps, params: dict[str, Any]) -> None:
    response = client.get("/api/queue", params=params, headers=auth("viewer"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert next(iter(params)) in str(response.json()["errors"])


def test_the_queue_needs_a_reader(client: TestClient, loaded: Deps) -> None:
    assert client.get("/api/queue").status_code == 401
    assert client.get("/api/queue", headers=auth("integration")).status_code == 403
    assert client.get("/api/queue/counts", headers=auth("integration")).status_code == 403


def test_an_orders_context_holds_its_facts_reservation_events_and_last_allocation(
        client: TestClient, loaded: Deps, clock: FixedClock) -> None:
    order_id = first_order(loaded)
    review.approve_order(loaded, ApproveOrder(order_id=order_id, actor=APPROVER))
    before = client.get(f"/api/orders/{order_id}/context", headers=auth("viewer")).json()
    assert before["last_allocation"] is None and before["reservation"] is None
    assert before["project"]["project_id"] == before["order"]["project_id"]
    assert before["qualifies"] is True and before["clearance"]["cleared"] is True
    assert [e["type"] for e in before["events"]] == ["oms.order.created", "oms.order.revised", "oms.order.approved"]

    order = before["order"]
    stock_up(loaded, {line["sku"]: 0 for line in order["lines"]}, order["warehouse_id"])
    run_allocation(loaded, RunAllocation(dry_run=False))  # stock rows of 0: short
    short = client.get(f"/api/orders/{order_id}/context", headers=auth("viewer")).json()
    last = short["last_allocation"]
    assert last["action"] == "allocation_short"
    assert last["explanation"]["outcome"] == "short" and last["explanation"]["shortfall"]
    assert {s["sku"] for s in last["explanation"]["shortfall"]} <= {line["sku"] for line in short["order"]["lines"]}

    stock_up(loaded, {line["sku"]: 100 for line in short["order"]["lines"]}, short["order"]["warehouse_id"])
    clock.advance(timedelta(minutes=5))
    run_allocation(loaded, RunAllocation(dry_run=False))
    done = client.get(f"/api/orders/{order_id}/context", headers=auth("viewer")).json()
    assert done["order"]["status"] == "Released"
    assert done["last_allocation"]["action"] == "allocate" and done["last_allocation"]["explanation"]["outcome"] \
        == "allocated"
    assert done["reservation"]["lines"] == {line["sku"]: line["qty"] for line in done["order"]["lines"]}
    runs = client.get("/api/allocation/runs", headers=auth("viewer")).json()["items"]
    assert runs[0]["run_id"] == done["last_allocation"]["run_id"]
    assert runs[0]["counts"]["allocated"] == 1 and runs[0]["dry_run"] is False and runs[0]["mode"] == "greedy"


def test_an_unknown_orders_context_is_404(client: TestClient, loaded: Deps) -> None:
    response = client.get("/api/orders/nope/context", headers=auth("viewer"))
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


def test_me_names_the_caller_and_the_roles_it_acts_as(client: TestClient) -> None:
    planner = client.get("/api/me", headers=auth("planner")).json()
    assert planner == {"user": "planner-1", "roles": ["planner"], "via": "api-key",
                       "acts_as": ["viewer", "planner"]}
    admin = client.get("/api/me", headers=auth("admin")).json()
    assert set(admin["acts_as"]) == {"viewer", "planner", "approver", "operator", "integration", "admin"}
    assert client.get("/api/me").json() == {"user": None, "roles": [], "via": None, "acts_as": []}
    assert client.get("/api/me", headers={"X-API-Key": "wrong"}).status_code == 401


def test_quarantine_is_listed_by_source(client: TestClient, loaded: Deps) -> None:
    every = client.get("/api/quarantine", headers=auth("viewer")).json()["items"]
    assert every
    source = every[0]["source"]
    mine = client.get("/api/quarantine", params={"source": source}, headers=auth("viewer")).json()["items"]
    assert [r["id"] for r in mine] == [r["id"] for r in every if r["source"] == source]
    assert client.get("/api/quarantine", params={"source": "nowhere"}, headers=auth("viewer")).json()["items"] == []


def test_the_console_and_the_dashboard_pages_load_without_a_key_and_hold_no_data(client: TestClient) -> None:
    for path in ("/api/console", "/api/dashboard"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
        assert "http://" not in page.text and "https://" not in page.text, path
    for asset in ("app.js", "api.js", "session.js", "console.css"):
        response = client.get(f"/api/console/assets/{asset}")
        assert response.status_code == 200, asset
        assert "https://" not in response.text and "http://" not in response.text, asset
    for bad in ("../../app.py", "..%2F..%2Fapp.py", "missing.js", "index.txt"):
        assert client.get(f"/api/console/assets/{bad}").status_code == 404, bad


def test_a_key_in_the_dashboards_url_is_dropped_not_used(client: TestClient) -> None:
    response = client.get("/api/dashboard?key=key-viewer", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/api/dashboard"


def test_the_address_the_server_prints_leads_to_the_console(client: TestClient) -> None:
    for path in ("/api", "/"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == "/api/console", path


def test_the_api_docs_load_their_assets_from_the_app_not_a_cdn(client: TestClient) -> None:
    for path in ("/api/docs", "/api/redoc"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "cdn." not in page.text and "fonts.googleapis" not in page.text, path
        assets = [part.split('"')[0] for part in page.text.split('"/api/docs/assets/')[1:]]
        assert assets, path
        for asset in assets:
            assert client.get(f"/api/docs/assets/{asset}").status_code == 200, asset
    assert client.get("/api/docs/assets/secrets.txt").status_code == 404


def test_a_key_in_a_url_is_redacted_in_the_access_log(caplog: pytest.LogCaptureFixture) -> None:
    assert redact("GET /api/dashboard?key=s3cret&x=1") == "GET /api/dashboard?key=REDACTED&x=1"
    assert redact("/api/x?a=1&code=abc") == "/api/x?a=1&code=REDACTED"
    assert redact("/api/orders?kind=delta") == "/api/orders?kind=delta"
    from common.api.app import create_app

    create_app()
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET",
                                                 "/api/dashboard?key=s3cret", "1.1", 303)
    assert "s3cret" not in caplog.text and "key=REDACTED" in caplog.text


def test_in_azure_the_app_service_sign_in_is_who_the_console_acts_as(client: TestClient, loaded: Deps) -> None:
    from tests.api.test_auth import _principal

    headers = {"X-MS-CLIENT-PRINCIPAL": _principal("ana@example.com", ["planner"])}
    assert client.get("/api/me", headers=headers).status_code == 401  # not vouched for by the platform here
    loaded.settings = loaded.settings.model_copy(update={"trust_principal_header": True})
    me = client.get("/api/me", headers=headers).json()
    assert me == {"user": "ana@example.com", "roles": ["planner"], "via": "principal", "acts_as": ["viewer", "planner"]}
