"""EventPublisher on Azure Event Hubs (`order-events`).

One producer per process, created on first publish (never at import), by
managed identity (`EVENTHUB_CONNECTION__fullyQualifiedNamespace`, with
`__clientId` for a user-assigned identity) or by connection string
(`EVENTHUB_CONNECTION`, e.g. the Event Hubs emulator). Events are sent in as
few batches as fit, one partition key per batch: the `partitionkey` of the
CloudEvent (the project), so one project's events keep their order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from common.config import Settings

ORDER_EVENTS = "order-events"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


class EventHubPublisher:
    def __init__(self, *, connection_string: str | None = None, namespace: str | None = None,
                 client_id: str | None = None, eventhub: str = ORDER_EVENTS) -> None:
        if not connection_string and not namespace:
            raise ValueError("an Event Hubs connection string or namespace is needed")
        self._connection_string = connection_string
        self._namespace = namespace
        self._client_id = client_id
        self.eventhub = eventhub
        self._producer: Any = None
        self._lock = threading.Lock()
        # The SDK's producer is not thread-safe, and the Functions worker runs
        # invocations on several threads: one send at a time per process.
        self._send_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, eventhub: str = ORDER_EVENTS) -> EventHubPublisher:
        return cls(connection_string=settings.eventhub_connection_string, namespace=settings.eventhub_namespace,
                   client_id=settings.eventhub_client_id, eventhub=eventhub)

    def _client(self) -> Any:
        with self._lock:
            if self._producer is None:
                from azure.eventhub import EventHubProducerClient

                if self._namespace:
                    from azure.identity import DefaultAzureCredential

                    credential = DefaultAzureCredential(managed_identity_client_id=self._client_id)
                    self._producer = EventHubProducerClient(self._namespace, self.eventhub, credential)
                else:
                    self._producer = EventHubProducerClient.from_connection_string(
                        self._connection_string or "", eventhub_name=self.eventhub)
            return self._producer

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        if not events:
            return
        producer = self._client()
        with self._send_lock:
            self._send(producer, events)

    def _send(self, producer: Any, events: Sequence[dict[str, Any]]) -> None:
        from azure.eventhub import EventData

        by_key: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            by_key.setdefault(str(event.get("partitionkey") or event.get("subject") or ""), []).append(event)
        for key, group in by_key.items():
            batch = producer.create_batch(partition_key=key or None)
            for event in group:
                data = EventData(json.dumps(event, separators=(",", ":")))
                data.content_type = CONTENT_TYPE
                data.message_id = str(event.get("id"))
                try:
                    batch.add(data)
                except ValueError:  # batch full: send it, start the next
                    producer.send_batch(batch)
                    batch = producer.create_batch(partition_key=key or None)
                    batch.add(data)
            if len(batch):
                producer.send_batch(batch)

    def close(self) -> None:
        with self._lock, self._send_lock:
            if self._producer is not None:
                self._producer.close()
                self._producer = None


_shared_lock = threading.Lock()
_shared: dict[tuple[str | None, str | None, str], EventHubPublisher] = {}


def shared_publisher(settings: Settings, eventhub: str = ORDER_EVENTS) -> EventHubPublisher:
    """The process's publisher for these settings (one producer per process)."""
    key = (settings.eventhub_connection_string, settings.eventhub_namespace, eventhub)
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = EventHubPublisher.from_settings(settings, eventhub)
        return found
