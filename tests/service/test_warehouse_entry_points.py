"""The entry points into the warehouse handler: the Event Hub trigger (with
real `func.EventHubEvent` objects) and the signed webhook through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from fastapi.testclient import TestClient

from common.api.signing import SIGNATURE_HEADER, sign, verify
from common.domain.models import OrderStatus
from common.service.bootstrap import Deps
from functions.warehouse_events import warehouse_events
from tests.helpers.entry_points import process_deps
from tests.helpers.warehouse import ORDER, completed, on_hand, snapshot

SECRET = "s3cret-for-tests"
KEYS = {"key-integration": {"user": "wms", "roles": ["integration"]}, "key-viewer": {"user": "v", "roles": ["viewer"]}}


@pytest.fixture
def injected(released: Deps) -> Iterator[Deps]:
    with process_deps(released):
        yield released


def hub_event(value: Any) -> func.EventHubEvent:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return func.EventHubEvent(body=body, partition_key="PRJ-0000101")


def test_the_event_hub_trigger_applies_a_batch_and_quarantines_what_is_not_json(injected: Deps) -> None:
    warehouse_events([hub_event(completed("wh-1")), hub_event(b"{not json"), hub_event(completed("wh-1"))])
    order = injected.store.get_order(ORDER)
    assert order is not None and order.status == OrderStatus.CLOSED
    assert on_hand(injected)["CBL-HYB-30M"] == (4, 0)
    run = injected.store.list_jobs(1)[0]
    assert (run.job, run.source) == ("ingest-warehouse-events", "eventhub")
    assert (run.counts["modified"], run.counts["quarantined"], run.counts["skipped_duplicate"]) == (1, 1, 1)
    assert injected.store.list_quarantine().items[0].payload == "{not json"


def test_the_trigger_binds_the_warehouse_hub() -> None:
    # A fresh app: `get_functions()` may be called once per app object, and
    # function_app's own app belongs to the indexing test.
    from functions.warehouse_events import bp

    app = func.FunctionApp()
    app.register_functions(bp)
    functions = {f.get_function_name(): json.loads(f.get_function_json()) for f in app.get_functions()}
    (binding,) = functions["warehouse_events"]["bindings"]
    assert (binding["type"], binding["eventHubName"], binding["connection"], binding["cardinality"].lower(),
            binding["consumerGroup"]) == ("eventHubTrigger", "warehouse-events", "EVENTHUB_CONNECTION", "many", "oms")


def test_a_signature_is_the_hmac_of_exactly_the_body() -> None:
    body = b'{"event_id": "x"}'
    signature = sign(SECRET, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, body, signature)
    assert verify(SECRET, body, signature.upper().replace("SHA256=", "sha256="))
    assert not verify(SECRET, body + b" ", signature)
    assert not verify("other", body, signature)
    assert not verify(SECRET, body, None)
    assert not verify(SECRET, body, signature.removeprefix("sha256="))


@pytest.fixture
def client(released: Deps) -> Iterator[TestClient]:
    from common.api.app import create_app
    from common.api.deps import provide_deps

    released.settings = released.settings.model_copy(update={"webhook_secret": SECRET, "api_keys": KEYS})
    app = create_app()
    app.dependency_overrides[provide_deps] = lambda: released
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_a_signed_callback_is_applied(client: TestClient, released: Deps) -> None:
    body = json.dumps(completed("wh-1")).encode()
    response = client.post("/api/warehouse/callbacks", content=body,
                           headers={"X-API-Key": "key-integration", "Content-Type": "application/json",
                                    SIGNATURE_HEADER: sign(SECRET, body)})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0] == {"event_id": "wh-1", "outcome": "applied", "order_id": ORDER,
                                             "reasons": []}
    order = released.store.get_order(ORDER)
    assert order is not None and order.status == OrderStatus.CLOSED


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "garbage"], ids=["missing", "wrong", "malformed"])
def test_a_callback_without_a_matching_signature_is_401_and_changes_nothing(
        client: TestClient, released: Deps, signature: str | None) -> None:
    before = snapshot(released)
    headers = {"X-API-Key": "key-integration", "Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    response = client.post("/api/warehouse/callbacks", content=json.dumps(completed("wh-1")).encode(), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert snapshot(released) == before
    assert released.store.list_quarantine().items == []


def test_a_callback_signed_for_another_body_is_refused(client: TestClient, released: Deps) -> None:
    signed_for = json.dumps(completed("wh-0")).encode()
    response = client.post("/api/warehouse/callbacks", content=json.dumps(completed("wh-1")).encode(),
                           headers={"X-API-Key": "key-integration", "Content-Type": "application/json",
                                    SIGNATURE_HEADER: sign(SECRET, signed_for)})
    assert response.status_code == 401
    assert released.store.get_order(ORDER).status == OrderStatus.RELEASED  # type: ignore[union-attr]


def test_callbacks_need_the_integration_role(client: TestClient) -> None:
    body = json.dumps(completed("wh-1")).encode()
    response = client.post("/api/warehouse/callbacks", content=body,
                           headers={"X-API-Key": "key-viewer", SIGNATURE_HEADER: sign(SECRET, body)})
    assert response.status_code == 403
