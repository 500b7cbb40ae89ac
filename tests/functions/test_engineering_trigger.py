"""The Event Hub trigger for engineering events, called with real
`azure.functions.EventHubEvent` objects and the dependencies injected
through the composition root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from common.adapters.clock import FixedClock
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from functions.engineering_events import engineering_events
from tests.helpers.entry_points import process_deps

DESIGN = {"event_id": "evt-eh-1", "event_type": "DesignApproved", "occurred_at": "2026-11-20T08:00:00Z",
          "project_id": "PRJ-0000101", "site_code": "NYC-00417", "order_type": "NewBuild", "design_version": 1,
          "items": [{"sku": "ANT-4T4R-B41", "qty": 3, "uom": "EA"}]}


def hub_event(value: Any) -> func.EventHubEvent:
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return func.EventHubEvent(body=body, partition_key="PRJ-0000101")


@pytest.fixture
def injected(seeded: Deps) -> Iterator[Deps]:
    with process_deps(seeded):
        yield seeded


def test_a_batch_of_hub_events_creates_orders_and_quarantines_what_is_not_json(injected: Deps) -> None:
    revised = {**DESIGN, "event_id": "evt-eh-2", "design_version": 2,
               "items": [{"sku": "ANT-4T4R-B41", "qty": 5, "uom": "EA"}]}

    engineering_events([hub_event(DESIGN), hub_event(b"{not json"), hub_event(revised), hub_event(DESIGN)])

    (order,) = injected.store.query_orders(OrderQuery()).items
    assert (order.order_id, order.revision, order.design_version, order.quantities()) == (
        "PRJ-0000101~NYC-00417~NewBuild~1", 2, 2, {"ANT-4T4R-B41": 5})
    (record,) = injected.store.list_quarantine().items
    assert record.payload == "{not json"
    assert [(r.loc, r.type) for r in record.reasons] == [([], "json_invalid")]
    (job,) = injected.store.list_jobs()
    assert (job.source, job.status) == ("eventhub", "succeeded")
    assert {k: job.counts[k] for k in ("received", "created", "modified", "skipped_duplicate", "quarantined")} == {
        "received": 4, "created": 1, "modified": 1, "skipped_duplicate": 1, "quarantined": 1}


def test_a_redelivered_hub_batch_changes_nothing(injected: Deps, clock: FixedClock) -> None:
    engineering_events([hub_event(DESIGN)])
    before = injected.store.query_orders(OrderQuery()).items
    clock.advance(timedelta(minutes=1))

    engineering_events([hub_event(DESIGN)])

    assert injected.store.query_orders(OrderQuery()).items == before
    newest = injected.store.list_jobs()[0]
    assert (newest.counts["skipped_duplicate"], newest.counts["created"]) == (1, 0)


def test_an_invalid_event_is_quarantined_with_every_reason_and_the_function_does_not_raise(injected: Deps) -> None:
    bad = {**DESIGN, "event_id": "evt-eh-bad", "items": [{"sku": "NOT-A-SKU", "qty": 0}]}

    engineering_events([hub_event(bad)])

    assert injected.store.query_orders(OrderQuery()).items == []
    (record,) = injected.store.list_quarantine().items
    assert record.event_id == "evt-eh-bad"
    assert [(r.loc, r.type) for r in record.reasons] == [
        (["items", 0, "qty"], "greater_than"), (["items", 0, "sku"], "unknown_sku")]
