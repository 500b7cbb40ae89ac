"""PublishOutbox: order events leave through the outbox (DESIGN.md sections 4 and 9).

- Embedded store: `dispatch_outbox` reads undelivered outbox events in write
  order, publishes them, then marks them delivered. A crash between the two
  publishes them again on the next run: delivery is at least once, and the
  CloudEvent `id` (the outbox event id) stays the same, so consumers dedupe.
- Cosmos DB: the change feed of the `orders` container hands every written
  document to `publish_outbox_documents`, which picks the outbox events out
  of the mix. The lease container is the progress record, so nothing is
  marked delivered (that write would only feed the change feed again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from common.adapters.cosmos.documents import outbox_from_feed
from common.domain.events import to_cloudevent
from common.domain.ids import quarantine_id
from common.domain.models import OutboxEvent, QuarantineRecord, Reason
from common.service.bootstrap import Deps

log = logging.getLogger("oms.outbox")

SOURCE = "outbox"
BATCH = 500


@dataclass
class OutboxReport:
    published: int = 0
    quarantined: int = 0
    event_ids: list[str] = field(default_factory=list)


def dispatch_outbox(deps: Deps, *, batch_size: int = BATCH, max_batches: int = 100) -> OutboxReport:
    """Publish what the embedded store's outbox holds, oldest first."""
    publisher, report = deps.publisher, OutboxReport()
    for _ in range(max_batches):
        pending = deps.store.pending_outbox(batch_size)
        if not pending:
            break
        publisher.publish([to_cloudevent(event) for event in pending])
        ids = [event.id for event in pending]
        deps.store.mark_delivered(ids, deps.clock.now())
        report.published += len(ids)
        report.event_ids += ids
        if len(pending) < batch_size:
            break
    if report.published:
        log.info("outbox: published %d events", report.published)
    return report


def publish_outbox_documents(deps: Deps, docs: Iterable[Mapping[str, Any]]) -> OutboxReport:
    """Publish the outbox events among change-feed documents of every type.
    An outbox document that cannot be read is quarantined, not dropped; a
    publisher failure raises, so the trigger's retry policy tries again."""
    report = OutboxReport()
    raw_events, bad = outbox_from_feed(docs)
    events: list[OutboxEvent] = []
    for raw in raw_events:
        try:
            events.append(OutboxEvent.model_validate(raw))
        except ValidationError as error:
            bad.append({"event": raw, "errors": error.errors(include_url=False)})
    for doc in bad:
        payload = dict(doc)
        deps.store.put_quarantine(QuarantineRecord(
            id=quarantine_id(SOURCE, str(payload.get("id") or ""), repr(sorted(payload)).encode()),
            source=SOURCE, received_at=deps.clock.now(), payload=_plain(payload),
            reasons=[Reason(loc=["event"], msg="outbox document holds no readable event", type="invalid")]))
        report.quarantined += 1
    if events:
        deps.publisher.publish([to_cloudevent(event) for event in events])
        report.published = len(events)
        report.event_ids = [event.id for event in events]
    return report


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
