"""The replenishment and what-if routes: `GET /api/inventory/replenishment`
(with the orders each open request would unblock), a request's audit, an
evaluation on demand, and `POST /api/allocation/simulations`."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient

from common.domain.replenishment import ReorderPolicy
from common.service.bootstrap import Deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import run_allocation
from tests.api.conftest import auth
from tests.conftest import load_samples
from tests.helpers.warehouse import ORDER, WH, adjusted, approve, design, stock_up, warehouse

ANT = "ANT-4T4R-B41"


@pytest.fixture
def short_of_antennas(deps: Deps) -> Deps:
    """The sample order needs 3 antennas, WH-EAST holds 2: the run leaves it
    short, and the antennas fall below their reorder point (10)."""
    load_samples(deps)
    stock_up(deps, {ANT: 2, "RRU-B41-160W": 20, "CBL-HYB-30M": 20})
    deps.store.put_reorder_policies([ReorderPolicy(warehouse_id=WH, sku=ANT, reorder_point=10, target_level=30,
                                                   lead_time_days=4)])
    approve(deps, design(deps))
    run_allocation(deps, RunAllocation())
    return deps


def dump(deps: Deps) -> list[str]:
    with sqlite3.connect(deps.settings.sqlite_path) as db:
        return list(db.iterdump())


def test_open_requests_list_the_orders_short_of_them_and_the_orders_they_would_unblock(
        client: TestClient, short_of_antennas: Deps) -> None:
    answer = client.get("/api/inventory/replenishment", headers=auth("viewer"))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    [item] = body["items"]
    assert (item["sku"], item["warehouse_id"], item["status"], item["quantity"]) == (ANT, WH, "open", 31)
    assert item["short_orders"] == [ORDER] and item["would_unblock"] == [ORDER]
    assert item["position"] == {"on_hand": 2, "reserved": 0, "demand": 3, "replenishment": 31, "projected": 30,
                                "orders": 1}
    assert item["overdue"] is False and body["open"] == 1
    assert body["last_allocation_run"] is not None
    assert client.get("/api/inventory/replenishment?unblock=false",
                      headers=auth("viewer")).json()["items"][0]["would_unblock"] is None


def test_closed_requests_are_listed_on_asking_for_them_with_their_duration(
        client: TestClient, short_of_antennas: Deps) -> None:
    warehouse(short_of_antennas, adjusted("adj-in", ANT, 40))

    assert client.get("/api/inventory/replenishment", headers=auth("viewer")).json()["items"] == []
    [item] = client.get("/api/inventory/replenishment?status=all", headers=auth("viewer")).json()["items"]
    assert item["status"] == "fulfilled" and item["duration_seconds"] == 0 and item["short_orders"] == []
    assert client.get("/api/inventory/replenishment?status=closed", headers=auth("viewer")).status_code == 422


def test_a_request_has_its_audit_trail_and_an_unknown_one_is_404(client: TestClient, short_of_antennas: Deps) -> None:
    [request] = short_of_antennas.store.replenishment_requests()
    trail = client.get(f"/api/inventory/replenishment/{request.request_id}/audit", headers=auth("viewer"))

    assert trail.status_code == 200
    assert [e["action"] for e in trail.json()["items"]] == ["replenishment_requested"]
    missing = client.get("/api/inventory/replenishment/@stock:WH-EAST~NOPE~1/audit", headers=auth("viewer"))
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert client.get(f"/api/inventory/replenishment/{ORDER}/audit", headers=auth("viewer")).status_code == 404


def test_an_operator_can_evaluate_now_and_a_viewer_cannot(client: TestClient, short_of_antennas: Deps) -> None:
    stock_up(short_of_antennas, {"RRU-B41-160W": 1})
    short_of_antennas.store.put_reorder_policies([ReorderPolicy(
        warehouse_id=WH, sku="RRU-B41-160W", reorder_point=5, target_level=9, lead_time_days=1)])

    assert client.post("/api/inventory/replenishment/evaluate", headers=auth("viewer")).status_code == 403
    answer = client.post("/api/inventory/replenishment/evaluate", headers=auth("operator"))

    assert answer.status_code == 200
    assert (answer.json()["opened"], answer.json()["evaluated"]) == (1, 2)
    assert client.get("/api/inventory/replenishment").status_code == 401


def test_a_simulation_answers_the_plan_with_extra_stock_and_writes_nothing(
        client: TestClient, short_of_antennas: Deps) -> None:
    before = dump(short_of_antennas)

    answer = client.post("/api/allocation/simulations", headers=auth("planner"),
                         json={"extra_stock": [{"warehouse_id": WH, "sku": ANT, "qty": 1}]})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["written"] is False and body["mode"] == "greedy"
    assert body["plan"]["allocated"] == [ORDER] and body["baseline"]["allocated"] == []
    assert body["difference"]["moved_in"] == [ORDER] and body["difference"]["moved_out"] == []
    assert body["difference"]["weight"] == [{"national_priority": 1, "gated": False, "baseline": 0, "what_if": 1,
                                             "delta": 1}]
    assert [o["order_id"] for o in body["plan"]["orders"]] == [ORDER]
    assert dump(short_of_antennas) == before


def test_a_simulation_with_bad_overrides_is_a_precise_422_and_writes_nothing(
        client: TestClient, short_of_antennas: Deps) -> None:
    before = dump(short_of_antennas)

    unknown = client.post("/api/allocation/simulations", headers=auth("planner"),
                          json={"exclude_orders": ["P9~S~NewBuild~1"], "projects": [{"project_id": "NOPE"}]})
    typo = client.post("/api/allocation/simulations", headers=auth("planner"), json={"extra_stok": []})
    wrong = client.post("/api/allocation/simulations", headers=auth("planner"),
                        json={"extra_stock": [{"warehouse_id": WH, "sku": ANT, "qty": "5"}], "mode": "fastest"})

    assert unknown.status_code == 422
    assert sorted(tuple(e["loc"]) for e in unknown.json()["errors"]) == [
        ("body", "exclude_orders", 0), ("body", "projects", 0, "project_id")]
    assert typo.status_code == 422 and typo.json()["errors"][0]["loc"] == ["body", "extra_stok"]
    assert wrong.status_code == 422
    assert {tuple(e["loc"]) for e in wrong.json()["errors"]} == {("body", "extra_stock", 0, "qty"), ("body", "mode")}
    assert client.post("/api/allocation/simulations", headers=auth("viewer"), json={}).status_code == 403
    assert client.post("/api/allocation/simulations", headers=auth("planner")).status_code == 422
    assert dump(short_of_antennas) == before


def test_the_list_is_bounded_by_limit_and_counts_every_request(client: TestClient, short_of_antennas: Deps) -> None:
    stock_up(short_of_antennas, {"RRU-B41-160W": 1})
    short_of_antennas.store.put_reorder_policies([ReorderPolicy(
        warehouse_id=WH, sku="RRU-B41-160W", reorder_point=5, target_level=9, lead_time_days=1)])
    assert client.post("/api/inventory/replenishment/evaluate", headers=auth("operator")).status_code == 200

    page = client.get("/api/inventory/replenishment?limit=1&unblock=false", headers=auth("viewer")).json()

    assert (len(page["items"]), page["total"], page["open"]) == (1, 2, 2)
    assert client.get("/api/inventory/replenishment?limit=0", headers=auth("viewer")).status_code == 422
