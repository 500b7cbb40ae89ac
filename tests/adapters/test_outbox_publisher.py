"""The outbox publisher: the embedded dispatcher and the change-feed function
publish every order event once as a valid CloudEvent, with an id that stays
the same when the event is delivered again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from common.adapters.cosmos.documents import outbox_from_feed
from common.adapters.local_sink import LocalSinkPublisher
from common.domain.models import QuarantineRecord
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents, PublishOutbox
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.outbox import dispatch_outbox, publish_outbox
from functions.outbox_feed import outbox_feed
from tests.adapters.cloudevents import problems
from tests.adapters.conftest import RecordingPublisher
from tests.adapters.cosmos_factories import ScratchCosmosStore
from tests.conftest import load_samples
from tests.helpers.entry_points import process_deps

DESIGN = {"event_id": "evt-ob-1", "event_type": "DesignApproved", "occurred_at": "2026-11-20T08:00:00Z",
          "project_id": "PRJ-0000101", "site_code": "NYC-00417", "order_type": "NewBuild", "design_version": 1,
          "items": [{"sku": "ANT-4T4R-B41", "qty": 3, "uom": "EA"}]}


SITES = [("PRJ-0000101", "NYC-00417"), ("PRJ-0000102", "BOS-00112"), ("PRJ-0000104", "DAL-00555")]
TYPES = ["NewBuild", "Upgrade", "Modification", "Maintenance"]


def designs(n: int) -> list[dict[str, Any]]:
    """Designs for `n` different streams of the sample projects (each site as the master names it)."""
    streams = [(p, s, t) for t in TYPES for p, s in SITES]
    assert n <= len(streams)
    return [{**DESIGN, "event_id": f"evt-ob-{i}", "project_id": p, "site_code": s, "order_type": t}
            for i, (p, s, t) in enumerate(streams[:n])]


def ingest(deps: Deps, events: list[dict[str, Any]]) -> None:
    ingest_engineering_events(deps, IngestEngineeringEvents(events, channel="test"))


# ----------------------------------------------------------- embedded dispatcher
class FailingMark:
    """A store whose mark_delivered fails once: a crash after publishing."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def mark_delivered(self, ids: Any, at: Any) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("crash between publish and mark")
        self._store.mark_delivered(ids, at)


def test_the_dispatcher_publishes_pending_events_in_write_order_then_marks_them(seeded: Deps, tmp_path: Path) -> None:
    sink = LocalSinkPublisher.in_data_dir(tmp_path / "data")
    seeded.publisher = sink
    ingest(seeded, designs(3))
    written = [e.id for e in seeded.store.outbox_events()]
    report = dispatch_outbox(seeded)
    assert report.published == 3
    assert [e["id"] for e in sink.read()] == written
    assert seeded.store.pending_outbox() == []
    assert dispatch_outbox(seeded).published == 0
    assert sink.path == tmp_path / "data" / "outbox" / "order-events.jsonl"


def test_the_local_sink_holds_valid_cloudevents_one_per_line(seeded: Deps, tmp_path: Path) -> None:
    sink = LocalSinkPublisher.in_data_dir(tmp_path / "data")
    seeded.publisher = sink
    ingest(seeded, designs(2))
    dispatch_outbox(seeded)
    lines = sink.path.read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        event = json.loads(line)
        assert problems(event) == []
        assert event["type"] == "oms.order.created" and event["subject"] == event["data"]["order_id"]


def test_a_crash_before_marking_publishes_again_with_the_same_ids(seeded: Deps) -> None:
    recording = RecordingPublisher()
    seeded.publisher = recording
    ingest(seeded, designs(2))
    flaky = FailingMark(seeded.store)
    seeded.store = flaky  # type: ignore[assignment]
    with pytest.raises(ConnectionError):
        dispatch_outbox(seeded)
    first = [e["id"] for e in recording.sent]
    dispatch_outbox(seeded)
    assert [e["id"] for e in recording.sent] == first + first
    assert seeded.store.pending_outbox() == []


def test_a_failed_publish_marks_nothing(seeded: Deps) -> None:
    recording = RecordingPublisher()
    recording.fail_next = True
    seeded.publisher = recording
    ingest(seeded, designs(1))
    with pytest.raises(ConnectionError):
        dispatch_outbox(seeded)
    assert len(seeded.store.pending_outbox()) == 1


# ------------------------------------------------------------- change feed
def feed_documents(store: ScratchCosmosStore) -> list[func.Document]:
    """Every document of `orders`, as the change feed hands them over."""
    docs = list(store.container("orders").query_items("SELECT * FROM c", enable_cross_partition_query=True))
    return [func.Document.from_dict(doc) for doc in docs]


@pytest.fixture
def cosmos_injected(cosmos_deps: Deps) -> Iterator[Deps]:
    load_samples(cosmos_deps)
    with process_deps(cosmos_deps):
        yield cosmos_deps


def test_the_change_feed_function_publishes_exactly_the_outbox_events_of_mixed_documents(
        cosmos_injected: Deps, publisher: RecordingPublisher, cosmos_store: ScratchCosmosStore) -> None:
    ingest(cosmos_injected, designs(3))
    documents = feed_documents(cosmos_store)
    kinds = {doc["type"] for doc in documents}
    assert {"order", "stream", "audit", "outbox", "marker"} <= kinds
    outbox_ids = sorted(e.id for e in cosmos_store.outbox_events())
    assert len(outbox_ids) == 3

    outbox_feed(func.DocumentList(documents))

    assert sorted(e["id"] for e in publisher.sent) == outbox_ids
    for event in publisher.sent:
        assert problems(event) == []
        assert event["type"] == "oms.order.created"
        assert event["subject"] == event["data"]["order_id"]


def test_redelivered_feed_documents_publish_the_same_cloudevent_ids(
        cosmos_injected: Deps, publisher: RecordingPublisher, cosmos_store: ScratchCosmosStore) -> None:
    ingest(cosmos_injected, designs(2))
    documents = feed_documents(cosmos_store)
    outbox_feed(func.DocumentList(documents))
    first = [e["id"] for e in publisher.sent]
    outbox_feed(func.DocumentList(documents))  # the same documents again: the lease was not checkpointed
    assert [e["id"] for e in publisher.sent] == first + first


def test_published_events_are_marked_delivered_and_the_feed_skips_their_marked_versions(
        cosmos_injected: Deps, publisher: RecordingPublisher, cosmos_store: ScratchCosmosStore) -> None:
    ingest(cosmos_injected, designs(2))
    outbox_feed(func.DocumentList(feed_documents(cosmos_store)))
    assert len(publisher.sent) == 2
    assert all(e.delivered_at is not None for e in cosmos_store.outbox_events())
    assert cosmos_store.stale_outbox(cosmos_injected.clock.now()) == []
    # The mark is a write the change feed hands over once more: nothing goes out again.
    outbox_feed(func.DocumentList(feed_documents(cosmos_store)))
    assert len(publisher.sent) == 2


def test_a_failed_publish_raises_so_the_retry_policy_runs_the_documents_again(
        cosmos_injected: Deps, publisher: RecordingPublisher, cosmos_store: ScratchCosmosStore) -> None:
    ingest(cosmos_injected, designs(1))
    documents = func.DocumentList(feed_documents(cosmos_store))
    publisher.fail_next = True
    with pytest.raises(ConnectionError):
        outbox_feed(documents)
    outbox_feed(documents)
    assert len(publisher.sent) == 1


def test_an_unreadable_outbox_document_is_quarantined_and_the_rest_still_publish(seeded: Deps) -> None:
    recording = RecordingPublisher()
    seeded.publisher = recording
    good = {"id": "outbox:P~S~NewBuild~1@1", "type": "outbox", "project_id": "P", "x_seq": 1,
            "event": {"id": "P~S~NewBuild~1@1", "type": "oms.order.created", "subject": "P~S~NewBuild~1",
                      "project_id": "P", "time": "2026-11-20T08:00:00Z", "data": {"order_id": "P~S~NewBuild~1"}}}
    broken = {"id": "outbox:P~S~NewBuild~2@1", "type": "outbox", "project_id": "P", "x_seq": 2,
              "event": {"id": "P~S~NewBuild~2@1"}}
    order = {"id": "order:P~S~NewBuild~1", "type": "order", "project_id": "P"}
    report = publish_outbox(seeded, PublishOutbox(*outbox_from_feed([order, broken, good])))
    assert [e["id"] for e in recording.sent] == ["P~S~NewBuild~1@1"]
    assert report.quarantined == 1
    records: list[QuarantineRecord] = seeded.store.list_quarantine().items
    assert [r.source for r in records] == ["outbox"]
