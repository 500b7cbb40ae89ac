"""Intake over HTTP: one outcome per event, nothing dropped."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from common.service.bootstrap import Deps
from tests.api.conftest import auth

H = {**auth("integration"), "Content-Type": "application/json"}


def _event(event_id: str, version: int = 1, **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "DesignApproved", "occurred_at": "2026-11-21T00:00:00Z",
            "project_id": "PRJ-0000101", "site_code": "NYC-00417", "order_type": "Modification",
            "design_version": version, "items": [{"sku": "ANT-4T4R-B41", "qty": 2}], **extra}


def test_one_event_object_gets_one_outcome(client: TestClient, loaded: Deps) -> None:
    response = client.post("/api/events/engineering", json=_event("evt-h1"), headers=H)
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert (result["event_id"], result["outcome"]) == ("evt-h1", "created")
    assert loaded.store.get_order(result["order_id"]) is not None


def test_an_array_gets_an_outcome_per_event_and_schema_invalid_ones_are_quarantined(
        client: TestClient, loaded: Deps) -> None:
    batch = [_event("evt-h2"), _event("evt-h2"), {"event_id": "evt-bad", "event_type": "DesignApproved"}, 7]
    results = client.post("/api/events/engineering", json=batch, headers=H).json()["results"]
    assert [r["outcome"] for r in results] == ["created", "skipped_duplicate", "quarantined", "quarantined"]
    assert results[2]["reasons"]
    assert {q.event_id for q in loaded.store.list_quarantine("open").items} >= {"evt-bad"}


def test_a_body_that_is_not_json_is_400_and_json_that_is_no_event_is_422(client: TestClient) -> None:
    assert client.post("/api/events/engineering", content=b"nope", headers=H).status_code == 400
    assert client.post("/api/events/engineering", content=b'"text"', headers=H).status_code == 422


def test_the_audit_names_the_integration_that_sent_the_event(client: TestClient, loaded: Deps) -> None:
    order_id = client.post("/api/events/engineering", json=_event("evt-h3"), headers=H).json()["results"][0]["order_id"]
    (entry,) = loaded.store.order_audit(order_id)
    assert (entry.actor.type.value, entry.actor.id) == ("external", "integration-1")


def test_warehouse_callbacks_go_to_the_warehouse_handler(client: TestClient, loaded: Deps) -> None:
    event = {"event_id": "wh-h1", "event_type": "StockAdjusted", "occurred_at": "2026-11-21T00:00:00Z",
             "warehouse_id": "WH-EAST", "sku": "ANT-4T4R-B41", "delta": 4, "reason": "cycle_count"}
    response = client.post("/api/warehouse/callbacks", json=[event], headers=H)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_signed_warehouse_callbacks_need_a_matching_signature(client: TestClient, loaded: Deps) -> None:
    import hashlib
    import hmac
    import json

    loaded.settings = loaded.settings.model_copy(update={"webhook_secret": "s3cret"})
    body = json.dumps({"event_id": "wh-h2", "event_type": "StockAdjusted", "occurred_at": "2026-11-21T00:00:00Z",
                       "warehouse_id": "WH-EAST", "sku": "ANT-4T4R-B41", "delta": 1,
                       "reason": "cycle_count"}).encode()
    assert client.post("/api/warehouse/callbacks", content=body, headers=H).status_code == 401
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    signed = client.post("/api/warehouse/callbacks", content=body, headers={**H, "X-OMS-Signature": signature})
    assert signed.status_code == 200


def test_a_quarantined_event_is_reprocessed_once_its_project_exists(client: TestClient, loaded: Deps) -> None:
    from common.domain.models import Project

    event = _event("evt-h4", project_id="PRJ-LATE")
    assert client.post("/api/events/engineering", json=event, headers=H).json()["results"][0]["outcome"] == \
        "quarantined"
    (record,) = [q for q in loaded.store.list_quarantine("open").items if q.event_id == "evt-h4"]
    still = client.post(f"/api/quarantine/{record.id}/reprocess", headers=auth("operator")).json()
    assert still["record"]["status"] == "open" and still["results"][0]["outcome"] == "quarantined"
    loaded.store.put_projects([Project(project_id="PRJ-LATE", project_status="Active",
                                       milestone="MilestoneApproved", warehouse_id="WH-EAST")])
    done = client.post(f"/api/quarantine/{record.id}/reprocess", headers=auth("operator")).json()
    assert (done["record"]["status"], done["results"][0]["outcome"]) == ("reprocessed", "created")
    again = client.post(f"/api/quarantine/{record.id}/reprocess", headers=auth("operator"))
    assert again.status_code == 409
