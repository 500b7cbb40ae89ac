"""Incidents over HTTP: operators move them through their lifecycle (ETag,
If-Match), every refusal is a precise problem and changes nothing, viewers
read, and operators manage who hears of incidents."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.adapters.stakeholders import MemoryMessenger
from common.domain.incidents import Incident
from common.service.bootstrap import Deps
from common.service.stakeholders import MESSENGER
from tests.api.conftest import auth
from tests.helpers.outages import fail_engineering_batch
from tests.helpers.warehouse import design_event

NY = "PRJ-0000101"


@pytest.fixture
def messenger(loaded: Deps) -> MemoryMessenger:
    found = MemoryMessenger()
    loaded.extras[MESSENGER] = found
    loaded.settings = loaded.settings.model_copy(update={"incident_subscribers": [
        {"market": "New York", "mail": "ny@example.test"}, {"market": "Chicago", "mail": "chi@example.test"}]})
    return found


@pytest.fixture
def incident(loaded: Deps, messenger: MemoryMessenger) -> Incident:
    """A failed engineering batch on the New York site: one incident."""
    fail_engineering_batch(loaded, [design_event("e-api-1", 9, {"ANT-4T4R-B41": 4}, NY, "NYC-00417",
                                                 kind="DesignRevised", at="2026-11-21T08:00:00Z")])
    [found] = loaded.store.list_incidents().items
    return found


def _subjects(messenger: MemoryMessenger, address: str) -> list[str]:
    return [m["subject"].split("] ")[1].split(":")[0] for m in messenger.sent if m["address"] == address]


def test_an_operator_acknowledges_with_the_etag_and_the_market_hears_an_update(
        client: TestClient, incident: Incident, messenger: MemoryMessenger, loaded: Deps) -> None:
    read = client.get(f"/api/incidents/{incident.incident_id}", headers=auth("viewer"))
    assert read.status_code == 200 and read.headers["ETag"] == f'"{incident.etag}"'
    assert [p["project_id"] for p in read.json()["impact"]["projects"]] == [NY]

    answer = client.post(f"/api/incidents/{incident.incident_id}/acknowledge",
                         json={"note": "on it", "eta": "2026-11-20T12:00:00Z"},
                         headers={**auth("operator"), "If-Match": read.headers["ETag"]})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"] == "operator-1"
    assert body["eta"] == "2026-11-20T12:00:00Z" and answer.headers["ETag"] != read.headers["ETag"]
    assert _subjects(messenger, "ny@example.test") == ["Opened", "Acknowledged"]
    assert _subjects(messenger, "chi@example.test") == []
    audit = client.get(f"/api/incidents/{incident.incident_id}/audit", headers=auth("viewer")).json()["items"]
    assert [(a["action"], a["actor"]["id"], a["reason"]) for a in audit] == [
        ("opened", "oms-incidents", audit[0]["reason"]), ("acknowledged", "operator-1", "on it")]


def test_the_whole_lifecycle_over_http_ends_with_a_summary(
        client: TestClient, incident: Incident, messenger: MemoryMessenger) -> None:
    base = f"/api/incidents/{incident.incident_id}"
    assert client.post(f"{base}/acknowledge", headers=auth("operator")).status_code == 200
    assert client.post(f"{base}/mitigate", json={"note": "replica in use", "root_cause": "disk full"},
                       headers=auth("operator")).status_code == 200
    assert client.post(f"{base}/updates", json={"note": "disk replaced"}, headers=auth("operator")).status_code == 200
    done = client.post(f"{base}/resolve", json={"root_cause": "disk full", "resolution": "grown and replayed"},
                       headers=auth("admin"))

    assert done.status_code == 200
    body = done.json()
    assert body["status"] == "resolved" and body["resolution"] == "grown and replayed"
    assert body["mitigation"] == "replica in use" and body["resolved_by"] == "admin-1"
    assert [body[f"{s}_at"] is not None for s in ("acknowledged", "mitigated", "resolved")] == [True] * 3
    assert _subjects(messenger, "ny@example.test") == ["Opened", "Acknowledged", "Mitigated", "Mitigated",
                                                       "Resolved"]
    summary = [m for m in messenger.sent if m["address"] == "ny@example.test"][-1]
    assert summary["data"]["type"] == "oms.incident.resolved" and summary["data"]["root_cause"] == "disk full"


def test_an_illegal_move_is_409_naming_the_status_and_changes_nothing(
        client: TestClient, incident: Incident, messenger: MemoryMessenger, loaded: Deps) -> None:
    base = f"/api/incidents/{incident.incident_id}"
    client.post(f"{base}/acknowledge", headers=auth("operator"))
    before = loaded.store.get_incident(incident.incident_id)
    sent = len(messenger.sent)

    answer = client.post(f"{base}/acknowledge", headers=auth("operator"))

    assert answer.status_code == 409
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"] == "urn:oms:problem:illegal-transition"
    assert problem["current_status"] == "acknowledged" and problem["action"] == "acknowledge"
    assert loaded.store.get_incident(incident.incident_id) == before and len(messenger.sent) == sent


@pytest.mark.parametrize(("body", "field"), [
    ({"resolution": "done"}, "root_cause"),
    ({"root_cause": "disk"}, "resolution"),
    ({"root_cause": "", "resolution": "done"}, "root_cause"),
    ({"root_cause": "disk", "resolution": "done", "colour": "red"}, "colour"),
])
def test_resolving_without_a_root_cause_and_resolution_is_422_and_changes_nothing(
        client: TestClient, incident: Incident, loaded: Deps, body: dict[str, Any], field: str) -> None:
    answer = client.post(f"/api/incidents/{incident.incident_id}/resolve", json=body, headers=auth("operator"))

    assert answer.status_code == 422
    assert any(e["loc"][-1] == field for e in answer.json()["errors"])
    assert loaded.store.get_incident(incident.incident_id) == incident
    assert len(loaded.store.incident_audit(incident.incident_id)) == 1


def test_a_whitespace_root_cause_is_refused_by_the_rule_too(client: TestClient, incident: Incident) -> None:
    answer = client.post(f"/api/incidents/{incident.incident_id}/resolve",
                         json={"root_cause": "   ", "resolution": "done"}, headers=auth("operator"))
    assert answer.status_code == 422 and answer.json()["errors"][0]["loc"] == ["body", "root_cause"]


def test_a_stale_if_match_is_412_and_an_unknown_incident_404(
        client: TestClient, incident: Incident, loaded: Deps) -> None:
    base = f"/api/incidents/{incident.incident_id}"
    client.post(f"{base}/updates", json={"note": "first"}, headers=auth("operator"))

    stale = client.post(f"{base}/acknowledge", headers={**auth("operator"), "If-Match": f'"{incident.etag}"'})
    missing = client.post("/api/incidents/INC-nope/acknowledge", headers=auth("operator"))

    assert stale.status_code == 412 and stale.json()["type"] == "urn:oms:problem:precondition-failed"
    assert loaded.store.get_incident(incident.incident_id).status.value == "open"  # type: ignore[union-attr]
    assert missing.status_code == 404 and missing.json()["type"] == "urn:oms:problem:not-found"


def test_viewers_read_but_only_operators_change_incidents(client: TestClient, incident: Incident,
                                                          loaded: Deps) -> None:
    base = f"/api/incidents/{incident.incident_id}"
    for role in ("viewer", "planner", "approver", "integration"):
        assert client.post(f"{base}/acknowledge", headers=auth(role)).status_code == 403, role
    assert client.post(f"{base}/acknowledge").status_code == 401
    assert client.get("/api/incidents", headers=auth("integration")).status_code == 403
    assert loaded.store.get_incident(incident.incident_id) == incident


def test_incidents_list_by_status_and_market_and_refuse_a_foreign_token(
        client: TestClient, incident: Incident) -> None:
    ny = client.get("/api/incidents", params={"market": "New York", "status": "live"}, headers=auth("viewer"))
    chicago = client.get("/api/incidents", params={"market": "Chicago"}, headers=auth("viewer"))
    bad = client.get("/api/incidents", params={"continuation": "eyJhdWRpdCI6WyIiLDFdfQ=="}, headers=auth("viewer"))
    unknown = client.get("/api/incidents", params={"status": "closed"}, headers=auth("viewer"))

    assert [i["incident_id"] for i in ny.json()["items"]] == [incident.incident_id]
    assert chicago.json() == {"items": [], "continuation": None}
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "continuation"]
    assert unknown.status_code == 422


def test_subscriptions_are_added_once_listed_with_the_settings_ones_and_removed(
        client: TestClient, messenger: MemoryMessenger) -> None:
    body = {"project_id": NY, "webhook": "https://hooks.example.test/ny", "name": "NY build team"}
    first = client.post("/api/incident-subscriptions", json=body, headers=auth("operator"))
    again = client.post("/api/incident-subscriptions", json=body, headers=auth("operator"))

    assert first.status_code == 201 and again.status_code == 200
    sid = first.json()["subscription_id"]
    assert again.json()["subscription_id"] == sid and first.headers["Location"].endswith(sid)
    listed = client.get("/api/incident-subscriptions", headers=auth("operator")).json()["items"]
    assert [(s["market"] or s["project_id"], s["channel"], s["from_settings"]) for s in listed] == [
        ("New York", "mail", True), ("Chicago", "mail", True), (NY, "webhook", False)]
    settings_one = listed[0]["subscription_id"]
    assert client.delete(f"/api/incident-subscriptions/{settings_one}", headers=auth("operator")).status_code == 409
    assert client.delete(f"/api/incident-subscriptions/{sid}", headers=auth("operator")).status_code == 204
    assert client.delete(f"/api/incident-subscriptions/{sid}", headers=auth("operator")).status_code == 404
    assert client.get("/api/incident-subscriptions", headers=auth("viewer")).status_code == 403


@pytest.mark.parametrize(("body", "fields"), [
    ({"market": "New York", "project_id": NY, "mail": "a@b.test"}, {"market"}),
    ({"mail": "a@b.test"}, {"market"}),
    ({"market": "New York"}, {"mail"}),
    ({"market": "New York", "mail": "not-an-address"}, {"mail"}),
    ({"market": "New York", "webhook": "ftp://x"}, {"webhook"}),
    ({"market": "New York", "mail": "a@b.test", "webhook": "https://x.test"}, {"mail"}),
])
def test_a_subscription_without_one_scope_and_one_reachable_channel_is_422_and_not_kept(
        client: TestClient, loaded: Deps, body: dict[str, Any], fields: set[str]) -> None:
    answer = client.post("/api/incident-subscriptions", json=body, headers=auth("operator"))

    assert answer.status_code == 422, answer.text
    assert {e["loc"][-1] for e in answer.json()["errors"]} == fields
    assert loaded.store.list_subscriptions() == []


def test_the_openapi_document_describes_the_incident_routes(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/incidents", "/api/incidents/{incident_id}", "/api/incidents/{incident_id}/acknowledge",
                 "/api/incidents/{incident_id}/resolve", "/api/incident-subscriptions"):
        assert path in paths, path
    assert "409" in paths["/api/incidents/{incident_id}/resolve"]["post"]["responses"]
