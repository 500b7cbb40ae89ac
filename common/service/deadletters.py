"""Event Hub batches in, and what happens when the store itself is down.

An Event Hub trigger checkpoints past a batch whether or not the function
succeeded, once its retry policy is spent. So nothing may depend on the retry:

1. Each event is handled inside the batch (bad ones are quarantined).
2. When the store fails beyond its own retries, the events not yet applied
   are written to quarantine (in the store) and the function raises, so the
   retry policy runs the batch again.
3. When that is impossible too (the store is down: quarantine lives in it,
   and a job run cannot even start), the raw batch is written whole to Blob
   Storage, a different service, as a *dead letter* before the function
   raises. It is replayed later by `oms deadletters replay` or
   `POST /api/dead-letters/replay`; every event applies once, because the
   idempotency markers written with each change make a replayed event that
   was applied meanwhile a duplicate.

A dead letter is named after the batch's content, so the retries of one
batch write (and announce) one dead letter. When even Blob Storage fails, the
raw batch goes to the log at CRITICAL level: the last place left.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from common.domain.models import Actor, ActorType
from common.ports import BlobNotFound
from common.service.bootstrap import Deps
from common.service.commands import (
    ENGINEERING_SOURCE,
    WAREHOUSE_SOURCE,
    ApplyWarehouseEvents,
    IngestEngineeringEvents,
    Undecodable,
    decode_json,
)
from common.service.faults import kept_in_quarantine
from common.service.handlers.batch import IngestReport
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.warehouse import apply_warehouse_events
from common.service.incidents import on_dead_letter

log = logging.getLogger("oms.deadletters")

REPLAYED = "replayed/"
OPERATOR = Actor(type=ActorType.SYSTEM, id="dead-letter-replay")


class DeadLetterError(Exception):
    """A dead letter that cannot be replayed as asked (unknown, or too old)."""


# ------------------------------------------------------------------ handling
def _handle(deps: Deps, source: str, events: Sequence[Any], channel: str,
            actor: Actor | None = None) -> IngestReport:
    who: dict[str, Any] = {} if actor is None else {"actor": actor}
    if source == ENGINEERING_SOURCE:
        return ingest_engineering_events(deps, IngestEngineeringEvents(events, channel=channel, **who))
    if source == WAREHOUSE_SOURCE:
        return apply_warehouse_events(deps, ApplyWarehouseEvents(events, channel=channel, **who))
    raise DeadLetterError(f"no handler for events from {source}")


def receive_batch(deps: Deps, source: str, bodies: Sequence[bytes | str], channel: str = "eventhub") -> IngestReport:
    """One Event Hub batch of `source` (engineering-events or
    warehouse-events): decoded, handled, and dead-lettered when it could be
    neither stored nor quarantined; the error is raised again either way, for
    the trigger's retry policy."""
    events = [decode_json(body) for body in bodies]
    try:
        return _handle(deps, source, events, channel)
    except BaseException as error:
        if not kept_in_quarantine(error):
            dead_letter(deps, source, events, error, channel)
        raise


# -------------------------------------------------------------- dead letters
def _entry(raw: Any) -> dict[str, Any]:
    return {"text": raw.text} if isinstance(raw, Undecodable) else {"json": raw}


def _raw(entry: dict[str, Any]) -> Any:
    return decode_json(entry["text"]) if "text" in entry else entry.get("json")


def dead_letter(deps: Deps, source: str, events: Sequence[Any], error: BaseException,
                channel: str = "eventhub") -> str | None:
    """Write the batch whole to the dead-letter container; returns its name
    (None when Blob Storage failed too and the batch went to the log)."""
    entries = [_entry(raw) for raw in events]
    canonical = json.dumps(entries, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(f"{source}|{canonical}".encode()).hexdigest()[:32]
    at = deps.clock.now()
    name = f"{source}/{at:%Y/%m/%d}/{digest}.json"
    container = deps.settings.deadletter_container
    document = {"name": name, "source": source, "channel": channel, "dead_lettered_at": at.isoformat(),
                "error": {"type": type(error).__name__, "message": str(error)[:2000]},
                "count": len(entries), "events": entries}
    try:
        fresh = not deps.blobs.exists(container, name)
        deps.blobs.write(container, name, json.dumps(document, default=str).encode())
    except Exception:
        log.critical("could not dead-letter a %s batch of %d events after %s; the batch follows: %s",
                     source, len(entries), type(error).__name__, canonical, exc_info=True)
        return None
    log.error("dead-lettered a %s batch of %d events to %s/%s: %s: %s", source, len(entries), container, name,
              type(error).__name__, error)
    if fresh:  # the retries of one batch announce it once
        _announce(deps, document, container)
        on_dead_letter(deps, document, container)  # stakeholders' incident (the store may be down: logged)
    return name


def _announce(deps: Deps, document: dict[str, Any], container: str) -> None:
    ids = [e["json"].get("event_id") for e in document["events"] if isinstance(e.get("json"), dict)]
    body = "\n".join([
        f"Source:   {document['source']} ({document['channel']})",
        f"Events:   {document['count']}",
        f"Error:    {document['error']['type']}: {document['error']['message']}",
        f"Kept at:  {container}/{document['name']}",
        "",
        "The store could not take the batch nor quarantine it. Nothing is lost: once the store is back,",
        "replay it with `oms deadletters replay` or POST /api/dead-letters/replay (each event applies once).",
        "",
        "Event ids: " + (", ".join(str(i) for i in ids[:50]) or "-") + (" ..." if len(ids) > 50 else ""),
    ])
    try:
        deps.notifier.notify(f"[OMS] DEAD-LETTERED {document['count']} {document['source']} events: "
                             f"{document['error']['type']}", body, level="error",
                             data={k: v for k, v in document.items() if k != "events"} | {"event_ids": ids})
    except Exception:
        log.exception("could not announce dead letter %s", document["name"])


@dataclass
class DeadLetter:
    name: str
    source: str
    channel: str
    dead_lettered_at: datetime
    count: int
    error: dict[str, Any]
    replay: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "channel": self.channel,
                "dead_lettered_at": self.dead_lettered_at.isoformat(), "count": self.count, "error": self.error,
                "replay": self.replay}


def _read(deps: Deps, name: str) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(deps.blobs.read(deps.settings.deadletter_container, name))
    except BlobNotFound as error:
        raise DeadLetterError(f"no dead letter {name}") from error
    return document


def _summary(document: dict[str, Any], name: str) -> DeadLetter:
    return DeadLetter(name=name, source=document["source"], channel=document.get("channel", "eventhub"),
                      dead_lettered_at=datetime.fromisoformat(document["dead_lettered_at"]),
                      count=int(document.get("count", len(document.get("events", [])))),
                      error=document.get("error") or {}, replay=document.get("replay"))


def list_dead_letters(deps: Deps, replayed: bool = False) -> list[DeadLetter]:
    """Waiting dead letters (or, with `replayed`, those already replayed), oldest first."""
    container = deps.settings.deadletter_container
    names = [n for n in deps.blobs.list(container, REPLAYED if replayed else "")
             if replayed or not n.startswith(REPLAYED)]
    letters = [_summary(_read(deps, name), name) for name in names]
    return sorted(letters, key=lambda d: (d.dead_lettered_at, d.name))


@dataclass
class ReplayResult:
    name: str
    status: str  # replayed | failed | refused
    job_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "job_id": self.job_id, "counts": self.counts,
                "error": self.error}


def replay_dead_letters(deps: Deps, names: Sequence[str] | None = None, *, actor: Actor | None = None,
                        force: bool = False) -> list[ReplayResult]:
    """Run dead letters through their handlers again (all waiting ones, or
    `names`); each replayed one moves under `replayed/` with its outcome. A
    dead letter older than the idempotency markers' lifetime
    (`OMS_MARKER_TTL_DAYS`) is refused unless `force`: its events' markers may
    be gone, so an event applied meanwhile could apply twice."""
    container = deps.settings.deadletter_container
    chosen = list(names) if names is not None else [d.name for d in list_dead_letters(deps)]
    results: list[ReplayResult] = []
    for name in chosen:
        results.append(_replay_one(deps, container, name, actor or OPERATOR, force))
    return results


def _replay_one(deps: Deps, container: str, name: str, actor: Actor, force: bool) -> ReplayResult:
    if name.startswith(REPLAYED):
        raise DeadLetterError(f"dead letter {name} was replayed already")
    document = _read(deps, name)
    age = deps.clock.now() - datetime.fromisoformat(document["dead_lettered_at"])
    ttl = deps.settings.marker_ttl_days
    if ttl and age > timedelta(days=ttl) and not force:
        return ReplayResult(name, "refused", error=(
            f"dead-lettered {age.days} days ago, longer than the idempotency markers live "
            f"(OMS_MARKER_TTL_DAYS={ttl:g}); check the events were not applied otherwise, then replay with force"))
    events = [_raw(entry) for entry in document.get("events", [])]
    try:
        report = _handle(deps, document["source"], events, "deadletter", actor)
    except Exception as error:
        log.warning("replay of dead letter %s failed: %s: %s", name, type(error).__name__, error)
        return ReplayResult(name, "failed", error=f"{type(error).__name__}: {error}")
    result = ReplayResult(name, "replayed", job_id=report.job.job_id, counts=dict(report.counts))
    document["replay"] = {"at": deps.clock.now().isoformat(), "by": actor.id, **result.to_json()}
    # Copy first, then delete: a crash in between leaves both, and replaying
    # the original again only finds duplicates.
    deps.blobs.write(container, REPLAYED + name, json.dumps(document, default=str).encode())
    deps.blobs.delete(container, name)
    return result

__all__ = ["DeadLetter", "DeadLetterError", "ReplayResult", "dead_letter", "list_dead_letters",
           "receive_batch", "replay_dead_letters"]
