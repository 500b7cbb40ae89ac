"""The API under test: the FastAPI app on the embedded store of `deps`, one API
key per role, the sample projects and catalogue, and orders from the sample
engineering events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from common.api.app import create_app
from common.api.deps import provide_deps
from common.config import Settings
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents, decode_json
from common.service.handlers.engineering import ingest_engineering_events
from tests.conftest import SAMPLES, load_samples

ROLES = ("viewer", "planner", "approver", "operator", "integration", "admin")
KEYS: dict[str, dict[str, Any]] = {f"key-{role}": {"user": f"{role}-1", "roles": [role]} for role in ROLES}
KEYS["key-approver-2"] = {"user": "approver-2", "roles": ["approver"]}
KEYS["key-planner-approver"] = {"user": "pat", "roles": ["planner", "approver"]}


def auth(role: str) -> dict[str, str]:
    return {"X-API-Key": f"key-{role}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return api_settings(tmp_path)


def api_settings(folder: Path) -> Settings:
    """The API tests' settings: a SQLite store in `folder`, the test keys."""
    return Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH=str(folder / "oms.db"),  # type: ignore[call-arg]
                    OMS_DATA_DIR=str(folder / "data"), OMS_API_KEYS=json.dumps(KEYS),
                    OMS_MAX_BODY_BYTES=20_000)


@pytest.fixture
def app(deps: Deps) -> FastAPI:
    api = create_app()
    api.dependency_overrides[provide_deps] = lambda: deps
    return api


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def sample_events() -> list[Any]:
    """Every line of the sample file, a bad one too (it gets quarantined)."""
    return [decode_json(line) for line in (SAMPLES / "engineering-events.jsonl").read_text().splitlines()
            if line.strip()]


@pytest.fixture
def loaded(deps: Deps) -> Deps:
    """Sample projects, catalogue and engineering events."""
    return load_api_samples(deps)


def load_api_samples(deps: Deps) -> Deps:
    load_samples(deps)
    ingest_engineering_events(deps, IngestEngineeringEvents(sample_events(), channel="file"))
    return deps


def first_order(deps: Deps, status: str = "Draft") -> str:
    from common.ports import OrderQuery

    page = deps.store.query_orders(OrderQuery(status=status, limit=1))
    assert page.items, f"no {status} order in the samples"
    return page.items[0].order_id
