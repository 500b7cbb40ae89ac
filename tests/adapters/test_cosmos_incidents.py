"""Incidents end to end on the Cosmos DB store (the local server): a failing
job opens one incident with exactly the orders it could not change, a second
failure adds to it, and the lifecycle's changes land with their audit
entries in the incidents container."""

from __future__ import annotations

from typing import Any

from common.adapters.stakeholders import MemoryMessenger
from common.domain.incidents import IncidentStatus
from common.domain.models import Actor, ActorType
from common.service import incidents
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.stakeholders import MESSENGER
from tests.conftest import load_samples
from tests.helpers.outages import fail_engineering_batch
from tests.helpers.warehouse import design_event

NY = "PRJ-0000101"


def design(event_id: str, version: int) -> dict[str, Any]:
    return design_event(event_id, version, {"ANT-4T4R-B41": version}, NY, "NYC-00417", at="2026-11-20T08:00:00Z")


def test_a_failing_job_on_cosmos_opens_one_incident_and_its_lifecycle_is_audited(cosmos_deps: Deps) -> None:
    cosmos_deps.extras[MESSENGER] = MemoryMessenger()
    cosmos_deps.settings = cosmos_deps.settings.model_copy(update={"incident_subscribers": [
        {"market": "New York", "mail": "ny@example.test"}]})
    load_samples(cosmos_deps)
    ingest_engineering_events(cosmos_deps, IngestEngineeringEvents([design("e-1", 1)], channel="http"))

    for event_id, version in (("e-2", 2), ("e-3", 3)):
        fail_engineering_batch(cosmos_deps, [design(event_id, version)])

    [incident] = cosmos_deps.store.list_incidents(market="New York").items
    assert [o.order_id for o in incident.impact.orders] == [f"{NY}~NYC-00417~NewBuild~1"]
    assert incident.occurrences == 2 and sorted(incident.impact.records) == ["e-2", "e-3"]
    operator = Actor(type=ActorType.USER, id="olga")
    incidents.change(cosmos_deps, incident.incident_id, "acknowledge", actor=operator, if_match=incident.etag)
    done = incidents.change(cosmos_deps, incident.incident_id, "resolve", actor=operator, root_cause="disk",
                            resolution="grown")

    assert done.status == IncidentStatus.RESOLVED
    assert [a.action for a in cosmos_deps.store.incident_audit(incident.incident_id)] == [
        "opened", "recurred", "acknowledged", "resolved"]
    sent: list[dict[str, Any]] = cosmos_deps.extras[MESSENGER].sent
    assert [m["data"]["type"] for m in sent] == ["oms.incident.notice", "oms.incident.update",
                                                 "oms.incident.resolved"]
    assert cosmos_deps.store.list_incidents(status="live").items == []
