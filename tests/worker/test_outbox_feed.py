"""The Cosmos DB change-feed trigger through the worker: a `json` array of the
`orders` container's documents of every type; only the outbox events leave,
as CloudEvents with their stable ids, to the local sink (no Event Hub
connection is configured)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from common.adapters.cosmos import documents as d
from common.adapters.local_sink import LocalSinkPublisher
from common.domain.events import to_cloudevent
from common.domain.models import Marker
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from tests.helpers.warehouse import ORDER, approve, design_event
from tests.worker import payloads
from tests.worker.conftest import WorkerClient


def with_system_fields(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """What Cosmos DB adds to every document the change feed hands out."""
    return {**doc, "_rid": f"rid{n:06d}==", "_self": f"dbs/oms/colls/orders/docs/rid{n:06d}==/",
            "_etag": f'"0000{n:04x}-0000-0000-0000-000000000000"', "_attachments": "attachments/",
            "_ts": 1_796_000_000 + n, "_lsn": 100 + n}


def partition_documents(deps: Deps) -> dict[str, list[dict[str, Any]]]:
    """project_id -> the `orders` container documents of that partition in
    write order, as common/adapters/cosmos/store.py shapes them for what
    `deps.store` holds: streams, orders, audit entries, outbox events, a marker."""
    seq = itertools.count(1)
    parts: dict[str, list[dict[str, Any]]] = {}
    events = deps.store.outbox_events()
    for order in deps.store.get_orders(list(dict.fromkeys(e.subject for e in events))).values():
        part = parts.setdefault(order.project_id, [])
        for stream in deps.store.get_streams([order.stream.id]).values():
            part.append(d.to_doc(stream, d.STREAM, stream.stream_id, x_parked=stream.parked is not None))
        part.append(d.to_doc(order, d.ORDER, order.order_id, x_updated=d.epoch(order.updated_at)))
        for entry in deps.store.order_audit(order.order_id):
            n = next(seq)
            part.append(d.to_doc(entry, d.AUDIT, entry.audit_id, x_at=d.epoch(entry.at), x_seq=n,
                                 x_sort=d.audit_sort_key(entry.at, n, entry.audit_id)))
    for event in events:
        parts.setdefault(event.project_id, []).append(
            d.outbox_doc(event, event.id, event.subject, event.project_id, x_seq=next(seq), x_delivered=False))
    marker = Marker(marker_id="engineering-events:evt-f-1", project_id="PRJ-0000101", source="engineering-events",
                    event_id="evt-f-1", outcome="created", at=deps.clock.now())
    parts.setdefault(marker.project_id, []).append(d.to_doc(marker, d.MARKER, marker.marker_id))
    lsn = itertools.count(1)
    return {p: [with_system_fields(doc, next(lsn)) for doc in docs] for p, docs in parts.items()}


def feed(parts: dict[str, list[dict[str, Any]]], seed: int = 7) -> list[dict[str, Any]]:
    """One change-feed batch: each partition's documents in write order, the
    partitions interleaved (a lease covers a range of partition keys)."""
    queues = {p: list(docs) for p, docs in parts.items()}
    chooser = random.Random(seed)
    out: list[dict[str, Any]] = []
    while queues:
        partition = chooser.choice(sorted(queues))
        out.append(queues[partition].pop(0))
        if not queues[partition]:
            del queues[partition]
    return out


def by_partition(cloudevents: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for event in cloudevents:
        out.setdefault(event["partitionkey"], []).append(event)
    return out


@pytest.mark.invokes("outbox_feed")
def test_the_change_feed_publishes_exactly_the_outbox_documents_as_cloudevents_through_the_worker(
        worker: WorkerClient, seeded: Deps) -> None:
    ingest_engineering_events(seeded, IngestEngineeringEvents([
        design_event("evt-f-1"),
        design_event("evt-f-2", project="PRJ-0000102", site="BOS-00112"),
        design_event("evt-f-3", version=2, items={"ANT-4T4R-B41": 4, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}),
    ], channel="file"))
    approve(seeded, ORDER)
    parts = partition_documents(seeded)
    docs = feed(parts)
    assert {doc["type"] for doc in docs} == {"order", "stream", "audit", "outbox", "marker"}
    events = seeded.store.outbox_events()
    assert len(events) >= 4 and len(parts) == 2
    assert len(seeded.store.pending_outbox()) == len(events)

    worker.succeed("outbox_feed", payloads.change_feed("outbox_feed", docs))

    sink = LocalSinkPublisher.in_data_dir(seeded.settings.data_path).read()
    assert sorted(c["id"] for c in sink) == sorted(e.id for e in events)
    # Each partition's events as CloudEvents, in the order they were written.
    assert by_partition(sink) == by_partition([to_cloudevent(e) for e in events])
    assert {c["type"] for c in sink} == {"oms.order.created", "oms.order.revised", "oms.order.approved"}
    assert seeded.store.list_quarantine().items == []
    assert seeded.store.pending_outbox() == []  # what was published is marked delivered

    worker.succeed("outbox_feed", payloads.change_feed("outbox_feed", docs))  # the retry policy runs it again

    again = LocalSinkPublisher.in_data_dir(seeded.settings.data_path).read()
    assert again == sink + sink  # at least once, with the same ids


@pytest.mark.invokes("outbox_feed")
def test_a_change_feed_batch_of_other_documents_and_delivered_outbox_documents_publishes_nothing(
        worker: WorkerClient, seeded: Deps) -> None:
    ingest_engineering_events(seeded, IngestEngineeringEvents([design_event("evt-f-1")], channel="file"))
    docs = feed(partition_documents(seeded))
    delivered = [{**doc, "x_delivered": True} for doc in docs if doc["type"] == "outbox"]
    others = [doc for doc in docs if doc["type"] != "outbox"]
    assert delivered and others

    worker.succeed("outbox_feed", payloads.change_feed("outbox_feed", others + delivered))

    assert LocalSinkPublisher.in_data_dir(seeded.settings.data_path).read() == []
    assert seeded.store.list_quarantine().items == []
