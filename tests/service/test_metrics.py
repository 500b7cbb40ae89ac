"""The dashboard's data: counts per state that agree with the store, ages
against the SLA, throughput per day from the audit, the bottleneck, recent
jobs and the quarantine; viewers only."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from common.adapters.clock import FixedClock
from common.api.app import create_app
from common.api.deps import provide_deps
from common.config import Settings
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents, decode_json
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.metrics import percentile
from common.service.handlers.sla import sweep_sla
from tests.conftest import SAMPLES

KEYS = {"key-viewer": {"user": "vic", "roles": ["viewer"]}, "key-int": {"user": "eng", "roles": ["integration"]}}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(OMS_SQLITE_PATH=str(tmp_path / "oms.db"), OMS_DATA_DIR=str(tmp_path / "d"),  # type: ignore[call-arg]
                    OMS_API_KEYS=json.dumps(KEYS))


def populate(deps: Deps, clock: FixedClock) -> None:
    """Orders from the sample events (a bad line is quarantined), two days
    apart, aged past the Draft SLA and swept."""
    events = [decode_json(line) for line in (SAMPLES / "engineering-events.jsonl").read_text().splitlines()
              if line.strip()]
    half = len(events) // 2
    ingest_engineering_events(deps, IngestEngineeringEvents(events[:half], channel="file"))
    clock.advance(timedelta(days=2))
    ingest_engineering_events(deps, IngestEngineeringEvents(events[half:], channel="file"))
    clock.advance(timedelta(days=2))
    sweep_sla(deps)


@pytest.fixture
def client(seeded: Deps, clock: FixedClock) -> Iterator[TestClient]:
    populate(seeded, clock)
    app = create_app()
    app.dependency_overrides[provide_deps] = lambda: seeded
    with TestClient(app) as test_client:
        yield test_client


def test_flow_metrics_need_the_viewer_role(client: TestClient) -> None:
    assert client.get("/api/metrics/flow").status_code == 401
    assert client.get("/api/metrics/flow", headers={"X-API-Key": "key-int"}).status_code == 403
    assert client.get("/api/metrics/flow", headers={"X-API-Key": "key-viewer"}).status_code == 200


def test_flow_metrics_agree_with_the_store(client: TestClient, seeded: Deps) -> None:
    data = client.get("/api/metrics/flow", headers={"X-API-Key": "key-viewer"}).json()

    orders = seeded.store.query_orders(OrderQuery(limit=1000)).items
    assert data["total_orders"] == len(orders) > 0
    by_state = Counter(o.status.value for o in orders)
    assert {s["status"]: s["count"] for s in data["states"] if s["count"]} == dict(by_state)
    assert data["by_kind"] == dict(Counter(o.kind.value for o in orders))
    draft = next(s for s in data["states"] if s["status"] == "Draft")
    assert draft["sla_hours"] == 72
    assert draft["breaching"] == by_state["Draft"]
    assert draft["flagged"] == by_state["Draft"]
    assert draft["age_hours"]["max"] == 96.0
    assert data["breaches"]["open"] == by_state["Draft"]
    assert data["bottleneck"]["status"] == "Draft"

    created = sum(day["created"] for day in data["throughput"])
    assert created == len(orders)
    days_with_orders = [d["day"] for d in data["throughput"] if d["created"]]
    per_day = Counter(o.created_at.date().isoformat() for o in orders)
    assert {d["day"]: d["created"] for d in data["throughput"] if d["created"]} == dict(per_day)
    assert days_with_orders[0] == "2026-11-20"

    assert data["jobs"][0]["job"] == "sla-sweep"
    assert data["quarantine"]["open"] == len(seeded.store.list_quarantine("open").items) >= 1
    assert data["quarantine"]["recent"][0]["reason"]


def test_the_dashboard_page_needs_no_key_and_takes_none_from_the_url_its_data_needs_a_viewer(
        client: TestClient) -> None:
    # A reload or a bookmark must get the page, never a 401 (issue 14): the
    # page holds no data; its script reads the metrics with the tab's sign-in.
    assert client.get("/api/dashboard").status_code == 200
    assert client.get("/api/dashboard", headers={"X-API-Key": "key-int"}).status_code == 200
    for key in ("key-viewer", "not-a-key"):
        sent_on = client.get(f"/api/dashboard?key={key}", follow_redirects=False)
        assert sent_on.status_code == 303 and sent_on.headers["location"] == "/api/dashboard"
    missing = client.get("/api/metrics/flow")
    assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
    assert client.get("/api/metrics/flow", headers={"X-API-Key": "key-int"}).status_code == 403
    assert client.get("/api/metrics/flow", headers={"X-API-Key": "key-viewer"}).status_code == 200


def test_the_dashboard_page_and_its_assets_are_served_offline(client: TestClient) -> None:
    page = client.get("/api/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/api/dashboard/dashboard.js" in page.text
    assert "http://" not in page.text and "https://" not in page.text
    script = client.get("/api/dashboard/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "https://" not in script.text
    assert client.get("/api/dashboard/dashboard.css").status_code == 200
    assert client.get("/api/dashboard/secrets.txt").status_code == 404


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 11)], 90) == 9.0
