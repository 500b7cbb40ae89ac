"""The Event Hub publisher: batching by partition key with a stand-in producer
(no Event Hubs server runs here without Docker), and for real against the
Event Hubs emulator when `OMS_TEST_EVENTHUB_CONNECTION` is set (see
infra/local/docker-compose.yml)."""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import pytest

from common.adapters.eventhub import CONTENT_TYPE, EventHubPublisher


class _Batch:
    def __init__(self, partition_key: str | None, capacity: int) -> None:
        self.partition_key = partition_key
        self.capacity = capacity
        self.events: list[Any] = []

    def add(self, data: Any) -> None:
        if len(self.events) >= self.capacity:
            raise ValueError("EventDataBatch has reached its size limit")
        self.events.append(data)

    def __len__(self) -> int:
        return len(self.events)


class _Producer:
    """What the publisher uses of `EventHubProducerClient`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sent: list[_Batch] = []
        self.closed = False

    def create_batch(self, partition_key: str | None = None) -> _Batch:
        return _Batch(partition_key, self.capacity)

    def send_batch(self, batch: _Batch) -> None:
        self.sent.append(batch)

    def close(self) -> None:
        self.closed = True


def cloudevent(n: int, project: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"{project}~S~NewBuild~1@{n}", "source": "/oms/orders",
            "type": "oms.order.created", "subject": f"{project}~S~NewBuild~1", "partitionkey": project,
            "time": "2026-11-20T08:00:00Z", "datacontenttype": "application/json", "data": {"n": n}}


def publisher_with(producer: _Producer) -> EventHubPublisher:
    publisher = EventHubPublisher(connection_string="Endpoint=sb://unused/;SharedAccessKeyName=k;SharedAccessKey=v")
    publisher._producer = producer  # the one client the publisher would otherwise create on first use
    return publisher


def test_a_publisher_connects_on_first_publish_not_when_built() -> None:
    publisher = EventHubPublisher(namespace="oms-test.servicebus.windows.net")
    assert publisher._producer is None
    publisher.publish([])
    assert publisher._producer is None


def test_events_go_out_in_batches_per_project_in_order_with_their_cloudevent_ids() -> None:
    producer = _Producer(capacity=3)
    events = [cloudevent(n, "PRJ-A") for n in range(7)] + [cloudevent(n, "PRJ-B") for n in range(2)]

    publisher_with(producer).publish(events)

    assert [(b.partition_key, len(b)) for b in producer.sent] == [("PRJ-A", 3), ("PRJ-A", 3), ("PRJ-A", 1),
                                                                 ("PRJ-B", 2)]
    sent = [data for batch in producer.sent for data in batch.events]
    assert [data.message_id for data in sent] == [e["id"] for e in events]
    assert all(data.content_type == CONTENT_TYPE for data in sent)
    assert [json.loads(next(data.body)) for data in sent] == events


def test_closing_the_publisher_closes_its_producer_once() -> None:
    producer = _Producer(capacity=10)
    publisher = publisher_with(producer)
    publisher.close()
    publisher.close()
    assert producer.closed and publisher._producer is None


class _OneAtATimeProducer(_Producer):
    """A producer that, like the SDK's, must not be used by two threads at
    once: it notes every overlap of two sends."""

    def __init__(self) -> None:
        super().__init__(capacity=2)
        self.inside = 0
        self.overlaps = 0
        self._guard = threading.Lock()

    def _enter_and_leave(self) -> None:
        """Stay inside a moment, noting whether another call is inside too."""
        with self._guard:
            self.inside += 1
            if self.inside > 1:
                self.overlaps += 1
        time.sleep(0.002)
        with self._guard:
            self.inside -= 1

    def create_batch(self, partition_key: str | None = None) -> _Batch:
        self._enter_and_leave()
        return super().create_batch(partition_key)

    def send_batch(self, batch: _Batch) -> None:
        self._enter_and_leave()
        super().send_batch(batch)


def test_concurrent_invocations_never_use_the_producer_at_once_and_each_keeps_its_order() -> None:
    producer = _OneAtATimeProducer()
    publisher = publisher_with(producer)
    projects = [f"PRJ-{n}" for n in range(6)]
    threads = [threading.Thread(target=publisher.publish, args=([cloudevent(i, p) for i in range(5)],))
               for p in projects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert producer.overlaps == 0
    for project in projects:
        ids = [d.message_id for b in producer.sent if b.partition_key == project for d in b.events]
        assert ids == [cloudevent(i, project)["id"] for i in range(5)]


EMULATOR = os.environ.get("OMS_TEST_EVENTHUB_CONNECTION")


@pytest.mark.emulator
@pytest.mark.skipif(not EMULATOR, reason="no Event Hubs emulator: set OMS_TEST_EVENTHUB_CONNECTION "
                    "(docker compose -f infra/local/docker-compose.yml up) to run this against it")
def test_published_events_arrive_on_order_events_as_cloudevents() -> None:
    from azure.eventhub import EventHubConsumerClient

    assert EMULATOR is not None
    run = str(time.time_ns())
    events = [cloudevent(n, f"PRJ-{run}") for n in range(5)]
    received: list[dict[str, Any]] = []
    done = threading.Event()
    consumer = EventHubConsumerClient.from_connection_string(EMULATOR, consumer_group="$Default",
                                                             eventhub_name="order-events")

    def on_event(_context: Any, event: Any) -> None:
        if event is None:
            return
        body = json.loads(event.body_as_str())
        if body.get("partitionkey") == f"PRJ-{run}":
            received.append(body)
        if len(received) >= len(events):
            done.set()

    worker = threading.Thread(target=consumer.receive, kwargs={"on_event": on_event, "starting_position": "@latest",
                                                               "max_wait_time": 1}, daemon=True)
    worker.start()
    time.sleep(3)  # the consumer must be attached before the events go out
    publisher = EventHubPublisher(connection_string=EMULATOR)
    try:
        publisher.publish(events)
        assert done.wait(60), f"received {len(received)} of {len(events)} events"
    finally:
        publisher.close()
        consumer.close()
    assert [e["id"] for e in received] == [e["id"] for e in events]
