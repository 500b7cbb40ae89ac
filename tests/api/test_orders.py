"""Reviewing orders over HTTP: ETags, edits, approval, rejection, cancel,
reprocess, and what the audit trail keeps of each."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from common.domain.models import Project
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from tests.api.conftest import auth, first_order


def _read(client: TestClient, order_id: str) -> tuple[dict[str, Any], str]:
    response = client.get(f"/api/orders/{order_id}", headers=auth("viewer"))
    assert response.status_code == 200
    return response.json(), response.headers["ETag"]


def _audit(client: TestClient, order_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/orders/{order_id}/audit", headers=auth("viewer"))
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _patch(client: TestClient, order_id: str, body: dict[str, Any], etag: str | None,
           role: str = "planner", media: str = "application/json") -> Any:
    headers = {**auth(role), "Content-Type": media}
    if etag is not None:
        headers["If-Match"] = etag
    import json

    return client.patch(f"/api/orders/{order_id}", headers=headers, content=json.dumps(body))


def test_the_etag_header_is_the_orders_etag_in_double_quotes(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    body, etag = _read(client, order_id)
    assert etag == f'"{body["etag"]}"'


def test_patch_without_if_match_is_428_and_changes_nothing(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    before, _ = _read(client, order_id)
    response = _patch(client, order_id, {"lines": [{"sku": "ANT-4T4R-B41", "qty": 9}]}, None)
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert _read(client, order_id)[0] == before


def test_if_match_is_checked_before_the_body(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    response = client.patch(f"/api/orders/{order_id}", content=b"{not json",
                            headers={**auth("planner"), "Content-Type": "application/json"})
    assert response.status_code == 428


def test_if_match_accepts_the_etag_quoted_or_bare(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    quoted = _patch(client, order_id, {"lines": [{"sku": "ANT-4T4R-B41", "qty": 7}]}, etag)
    assert quoted.status_code == 200
    bare = _patch(client, order_id, {"lines": [{"sku": "ANT-4T4R-B41", "qty": 8}]}, quoted.json()["etag"],
                  media="application/merge-patch+json")
    assert bare.status_code == 200
    assert bare.json()["lines"][0]["qty"] == 8


def test_two_patches_with_the_same_if_match_one_wins_and_the_audit_shows_one_change(
        client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    audit_before = len(_audit(client, order_id))
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def edit(qty: int) -> None:
        barrier.wait()
        statuses.append(_patch(client, order_id, {"lines": [{"sku": "ANT-4T4R-B41", "qty": qty}]}, etag).status_code)

    threads = [threading.Thread(target=edit, args=(qty,)) for qty in (11, 12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 412]
    audit = _audit(client, order_id)
    assert len(audit) == audit_before + 1
    assert audit[-1]["action"] == "edit"


def test_a_stale_if_match_is_412_with_a_problem(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    assert _patch(client, order_id, {"need_by": "2027-02-01"}, etag).status_code == 200
    stale = _patch(client, order_id, {"need_by": "2027-03-01"}, etag)
    assert stale.status_code == 412
    assert stale.json()["status"] == 412
    assert _read(client, order_id)[0]["need_by"] == "2027-02-01"


def test_fields_that_are_not_editable_are_refused_by_name(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    response = _patch(client, order_id, {"status": "Approved"}, etag)
    assert response.status_code == 422
    assert ["body", "status"] in [e["loc"] for e in response.json()["errors"]]


def test_an_edit_with_an_unknown_sku_is_refused_with_its_path(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    response = _patch(client, order_id, {"lines": [{"sku": "NOPE-1", "qty": 1}]}, etag)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["lines", 0, "sku"]


def _approve(client: TestClient, order_id: str, role: str = "approver") -> Any:
    return client.post(f"/api/orders/{order_id}/approve", headers=auth(role), json={})


def test_editing_an_approved_order_sends_it_back_to_draft_with_the_changed_lines_in_the_audit(
        client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    assert _approve(client, order_id).json()["status"] == "Approved"
    order, etag = _read(client, order_id)
    sku = order["lines"][0]["sku"]
    response = _patch(client, order_id, {"lines": [{"sku": sku, "qty": 42}]}, etag)
    assert response.status_code == 200
    assert response.json()["status"] == "Draft"
    assert response.json()["revision"] == order["revision"] + 1
    entry = _audit(client, order_id)[-1]
    assert (entry["from_status"], entry["to_status"], entry["actor"]) == (
        "Approved", "Draft", {"type": "user", "id": "planner-1"})
    paths = {c["path"]: c for c in entry["changes"]}
    assert paths[f"lines[{sku}].qty"]["new"] == 42


def test_rejecting_an_approved_order_sends_it_back_to_draft_with_the_reason(
        client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _approve(client, order_id)
    response = client.post(f"/api/orders/{order_id}/reject", headers=auth("approver"),
                           json={"reason": "wrong antenna count"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["rejection_reason"]) == ("Draft", "wrong antenna count")
    entry = _audit(client, order_id)[-1]
    assert (entry["action"], entry["reason"], entry["from_status"], entry["to_status"]) == (
        "reject", "wrong antenna count", "Approved", "Draft")
    assert entry["actor"]["id"] == "approver-1"
    events = [e.type for e in loaded.store.outbox_events(order_id)]
    assert events[-2:] == ["oms.order.approved", "oms.order.rejected"]


def test_a_reject_without_a_reason_is_422(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _approve(client, order_id)
    assert client.post(f"/api/orders/{order_id}/reject", headers=auth("approver"), json={}).status_code == 422
    assert _read(client, order_id)[0]["status"] == "Approved"


def test_an_illegal_transition_is_409_naming_the_current_status(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    response = client.post(f"/api/orders/{order_id}/reject", headers=auth("approver"), json={"reason": "x"})
    assert response.status_code == 409
    assert response.json()["current_status"] == "Draft"
    assert "Draft" in response.json()["detail"]


def test_four_eyes_an_approver_may_not_approve_their_own_change(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    assert _patch(client, order_id, {"need_by": "2027-05-01"}, etag, role="planner-approver").status_code == 200
    own = _approve(client, order_id, role="planner-approver")
    assert own.status_code == 403
    assert "four-eyes" in own.json()["detail"]
    assert _approve(client, order_id, role="approver").status_code == 200


def test_four_eyes_off_lets_the_changer_approve(client: TestClient, loaded: Deps) -> None:
    loaded.settings = loaded.settings.model_copy(update={"four_eyes": False})
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    _patch(client, order_id, {"need_by": "2027-05-01"}, etag, role="planner-approver")
    assert _approve(client, order_id, role="planner-approver").status_code == 200


def test_an_order_that_does_not_validate_is_not_approved_and_the_reasons_say_why(
        client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    _, etag = _read(client, order_id)
    _patch(client, order_id, {"lines": []}, etag)
    response = _approve(client, order_id)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["lines"]
    assert _read(client, order_id)[0]["status"] == "Draft"


def test_manual_items_are_added_with_source_manual(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    response = client.post(f"/api/orders/{order_id}/items", headers=auth("planner"),
                           json={"items": [{"sku": "MNT-PIPE-2M", "qty": 2}]})
    assert response.status_code == 200
    manual = [line for line in response.json()["lines"] if line["source"] == "manual"]
    assert [(line["sku"], line["qty"]) for line in manual] == [("MNT-PIPE-2M", 2)]
    assert _audit(client, order_id)[-1]["action"] == "add_items"


def test_cancel_moves_a_draft_order_to_cancelled_and_then_refuses(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    response = client.post(f"/api/orders/{order_id}/cancel", headers=auth("planner"), json={"reason": "dup"})
    assert response.json()["status"] == "Cancelled"
    again = client.post(f"/api/orders/{order_id}/cancel", headers=auth("planner"))
    assert again.status_code == 409
    assert again.json()["current_status"] == "Cancelled"


def test_reprocess_applies_the_design_that_was_parked_once_the_project_qualifies(
        client: TestClient, loaded: Deps) -> None:
    """The project was on hold when version 2 arrived (parked); it qualifies
    again, and reprocessing produces the revision the delta rules demand."""
    store = loaded.store
    project = store.get_projects(["PRJ-0000102"])["PRJ-0000102"]
    order_id = "PRJ-0000102~BOS-00112~Upgrade~1"
    before, _ = _read(client, order_id)
    store.put_projects([project.model_copy(update={"project_status": "OnHold"})])
    report = ingest_engineering_events(loaded, IngestEngineeringEvents([{
        "event_id": "evt-reproc-1", "event_type": "DesignRevised", "occurred_at": "2026-11-21T08:00:00Z",
        "project_id": "PRJ-0000102", "site_code": "BOS-00112", "order_type": "Upgrade", "design_version": 5,
        "items": [{"sku": "BBU-5G-SA", "qty": 2}, {"sku": "ANT-4T4R-B41", "qty": 2}]}]))
    assert report.results[0].outcome.value == "parked"
    store.put_projects([Project.model_validate(project.model_dump())])
    response = client.post(f"/api/orders/{order_id}/reprocess", headers=auth("planner"))
    assert response.status_code == 200
    result = response.json()
    assert result["outcome"] == "revised"
    assert result["order"]["revision"] == before["revision"] + 1
    assert result["order"]["design_version"] == 5
    assert {(line["sku"], line["qty"]) for line in result["order"]["lines"]} == {("BBU-5G-SA", 2),
                                                                                  ("ANT-4T4R-B41", 2)}
    entry = _audit(client, order_id)[-1]
    assert entry["actor"] == {"type": "user", "id": "planner-1"}
    assert entry["reason"].startswith("reprocessed with design version 5")
    again = client.post(f"/api/orders/{order_id}/reprocess", headers=auth("planner"))
    assert again.json()["outcome"] == "skipped_unchanged"


def test_reprocess_puts_a_hand_edited_order_back_on_its_design(client: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    order, etag = _read(client, order_id)
    _patch(client, order_id, {"lines": [{"sku": order["lines"][0]["sku"], "qty": 99}]}, etag)
    result = client.post(f"/api/orders/{order_id}/reprocess", headers=auth("planner")).json()
    assert result["outcome"] == "revised"
    assert result["order"]["lines"] == order["lines"]


def test_orders_are_listed_with_filters_and_continuation_paging(client: TestClient, loaded: Deps) -> None:
    seen: list[str] = []
    continuation = None
    while True:
        params: dict[str, Any] = {"limit": 1, "status": "Draft"}
        if continuation:
            params["continuation"] = continuation
        page = client.get("/api/orders", params=params, headers=auth("viewer")).json()
        seen.extend(o["order_id"] for o in page["items"])
        continuation = page["continuation"]
        if not continuation:
            break
    everything = client.get("/api/orders", params={"limit": 1000}, headers=auth("viewer")).json()
    assert seen == [o["order_id"] for o in everything["items"] if o["status"] == "Draft"]
    assert len(seen) >= 2
    by_project = client.get("/api/orders", params={"project_id": "PRJ-0000101"}, headers=auth("viewer")).json()
    assert {o["project_id"] for o in by_project["items"]} == {"PRJ-0000101"}
    bad = client.get("/api/orders", params={"continuation": "_w=="}, headers=auth("viewer"))
    assert bad.status_code == 422


def test_the_audit_is_queryable_by_project_and_time(client: TestClient, loaded: Deps) -> None:
    items = client.get("/api/audit", params={"project_id": "PRJ-0000101"}, headers=auth("viewer")).json()["items"]
    assert items and {e["project_id"] for e in items} == {"PRJ-0000101"}
    assert client.get("/api/audit", params={"until": "2000-01-01T00:00:00Z"},
                      headers=auth("viewer")).json()["items"] == []
