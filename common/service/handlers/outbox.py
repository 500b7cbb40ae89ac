"""PublishOutbox: order events leave through the outbox (DESIGN.md sections 4 and 9).

- Embedded store: `dispatch_outbox` reads undelivered outbox events in write
  order, publishes them, then marks them delivered. A crash between the two
  publishes them again on the next run: delivery is at least once, and the
  CloudEvent `id` (the outbox event id) stays the same, so consumers dedupe.
- Cosmos DB: the change feed of the `orders` container hands every written
  document to the `outbox_feed` function, which picks the outbox events out of
  the mix (the adapter knows the documents); `publish_outbox` publishes them
  in the feed's order and marks them delivered
  (the feed hands a marked document over once more; it is skipped). The
  lease moves on whether or not the function succeeded, once its retry policy
  is spent: `republish_outbox`, on a timer, publishes what is still
  undelivered after `OMS_OUTBOX_GRACE_MINUTES`, in each project's commit
  order, so no order event is ever lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from common.domain.events import to_cloudevent
from common.domain.ids import quarantine_id
from common.domain.models import JobRun, OutboxEvent, QuarantineRecord, Reason
from common.service.bootstrap import Deps
from common.service.commands import PublishOutbox
from common.service.jobs import job_run

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


def publish_outbox(deps: Deps, cmd: PublishOutbox) -> OutboxReport:
    """Publish the outbox events the change feed handed over (in its order),
    then mark them delivered. An outbox document that cannot be read is
    quarantined, not dropped; a publisher failure raises, so the trigger's
    retry policy tries again."""
    report = OutboxReport()
    bad = list(cmd.unreadable)
    events: list[OutboxEvent] = []
    for raw in cmd.events:
        try:
            events.append(OutboxEvent.model_validate(raw))
        except ValidationError as error:
            bad.append({"event": raw, "errors": error.errors(include_url=False)})
    for doc in bad:
        payload = dict(doc)
        deps.store.put_quarantine(QuarantineRecord(
            id=quarantine_id(SOURCE, str(payload.get("id") or ""),
                            json.dumps(payload, sort_keys=True, default=str).encode()),
            source=SOURCE, received_at=deps.clock.now(), payload=_plain(payload),
            reasons=[Reason(loc=["event"], msg="outbox document holds no readable event", type="invalid")]))
        report.quarantined += 1
    if events:
        deps.publisher.publish([to_cloudevent(event) for event in events])
        report.published = len(events)
        report.event_ids = [event.id for event in events]
        try:
            deps.store.mark_delivered(report.event_ids, deps.clock.now())
        except Exception:  # published already: at worst the republisher sends them again, same ids
            log.warning("outbox: %d events published but not marked delivered", len(events), exc_info=True)
    return report


def republish_outbox(deps: Deps, *, batch_size: int = BATCH, max_batches: int = 100) -> JobRun | None:
    """Publish the outbox events still undelivered `OMS_OUTBOX_GRACE_MINUTES`
    after their change (what the change feed gave up on), each project's in
    commit order, and mark them delivered. One job run when there is any
    (None otherwise: the timer fires every few minutes and mostly finds none)."""
    before = deps.clock.now() - timedelta(minutes=deps.settings.outbox_grace_minutes)
    stale = deps.store.stale_outbox(before, batch_size)
    if not stale:
        return None
    seen: set[str] = set()
    with job_run(deps, "outbox-republish", "timer") as recorder:
        for _ in range(max_batches):
            fresh = [event for event in stale if event.id not in seen]
            if not fresh:
                break  # nothing new (a mark that did not take): the next tick tries again
            recorder.step = "publish"
            deps.publisher.publish([to_cloudevent(event) for event in fresh])
            recorder.step = "mark delivered"
            deps.store.mark_delivered([event.id for event in fresh], deps.clock.now())
            seen.update(event.id for event in fresh)
            recorder.count("republished", len(fresh))
            recorder.details.setdefault("projects", sorted({e.project_id for e in fresh}))
            stale = deps.store.stale_outbox(before, batch_size)
        recorder.count("modified", len(seen))
    deps.notifier.notify(f"[OMS] outbox: republished {len(seen)} order events the change feed did not deliver",
                         f"{len(seen)} order events were still undelivered {deps.settings.outbox_grace_minutes:g} "
                         "minutes after their change and were published again (same CloudEvent ids).",
                         level="warning", data={"job_id": recorder.run.job_id, "events": sorted(seen)[:100]})
    return recorder.run


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)
