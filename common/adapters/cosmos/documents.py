"""How domain models are stored as Cosmos DB documents.

Every document of the `orders` container carries a `type` discriminator
(order, stream, audit, outbox, marker) and the partition key `project_id`.
Ids are unique per partition across types, so each id is prefixed with its
type (an audit entry and the outbox event of one write share a natural id).
A natural id with a character outside `A-Z a-z 0-9 . _ : ~ @ -` (Cosmos DB
refuses / \\ ? # in ids, and percent-escaped or other URL-special ids have
been mishandled on point reads), or one past the 255-character limit, is
replaced by a digest; the natural id stays in the document either way.

The other containers (projects, catalog, jobs, quarantine) wrap the model in
`body`, since master data keeps extra columns whose names could clash with
ours; their key and query fields are copied beside it.

An outbox document holds its event under `event` (the event's own `id` and
`type` are CloudEvent attributes, not the document's), with `subject` and
`project_id` copied beside it for queries.

Fields starting with `x_` are ours, for queries (numbers sort and compare
where ISO strings with different offsets would not); they and the system
fields are dropped when a document is read back into a model.

`x_sort` is the one field a paged list sorts and pages on (ORDER BY two
fields would need a composite index, which the indexing policy does not
define): it joins the list's sort keys into a string that sorts as they do.
Audit entries carry `audit_sort_key`, quarantine records `quarantine_sort_key`.
Documents written before `x_sort` existed lack it and are not listed (the
project had not shipped; a quarantine record gets it when it is put again).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

ORDER, STREAM, AUDIT, OUTBOX, MARKER = "order", "stream", "audit", "outbox", "marker"
# One per partition: its order-flow counters (common/domain/flow.py), in every batch that changes them.
FLOW = "flow"
SYSTEM_FIELDS = frozenset({"id", "type", "_rid", "_self", "_etag", "_ts", "_attachments", "_lsn"})
_SAFE = re.compile(r"[A-Za-z0-9._:~@-]*")
MAX_ID_LENGTH = 255


def doc_id(kind: str, natural: str) -> str:
    out = f"{kind}:{natural}"
    if len(out) > MAX_ID_LENGTH or not _SAFE.fullmatch(natural):
        out = f"{kind}:h:{hashlib.blake2b(natural.encode(), digest_size=20).hexdigest()}"
    return out


def epoch(at: datetime) -> float:
    """Seconds since 1970; a naive time counts as UTC (as everywhere in the OMS)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEWEST_FIRST = 10**18  # above any microsecond count up to year 9999


def sort_time(at: datetime) -> str:
    """Fixed-width UTC ISO time (naive counts as UTC): sorts as the instants do."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def entered_sort_key(entered: datetime, order_id: str) -> str:
    """An order's place in the work queue's "waiting longest" order: when it
    entered its status (fixed width, so it sorts and compares as the instant)
    and its id for ties; one field, so no composite index is needed."""
    return f"{sort_time(entered)}|{order_id}"


def audit_sort_key(at: datetime, seq: int, audit_id: str) -> str:
    """Oldest first, ties in write order (`seq`)."""
    return f"{sort_time(at)}|{seq:020d}|{audit_id}"


def quarantine_sort_key(received_at: datetime, record_id: str) -> str:
    """Ascending order of this key is newest first, ties by id ascending (the
    time is counted down from a fixed point, so one ascending sort does both)."""
    aware = received_at if received_at.tzinfo is not None else received_at.replace(tzinfo=UTC)
    micros = (aware - _EPOCH) // timedelta(microseconds=1)
    return f"{_NEWEST_FIRST - micros:019d}|{record_id}"


def to_doc(model: BaseModel, kind: str, natural: str, **meta: Any) -> dict[str, Any]:
    exclude = {"etag"} if "etag" in type(model).model_fields else None
    body = model.model_dump(mode="json", exclude=exclude)
    body.update(meta)
    body["id"] = doc_id(kind, natural)
    body["type"] = kind
    return body


def from_doc(model: type[M], doc: dict[str, Any]) -> M:
    data = {k: v for k, v in doc.items() if k not in SYSTEM_FIELDS and not k.startswith("x_")}
    out = model.model_validate(data)
    if "etag" in model.model_fields and "_etag" in doc:
        out.etag = doc["_etag"]  # type: ignore[attr-defined]
    return out


def wrap(model: BaseModel, natural: str, **meta: Any) -> dict[str, Any]:
    return {"id": doc_id("", natural)[1:], **meta, "body": model.model_dump(mode="json")}


def wrap_json(text: str, natural: str, **meta: Any) -> dict[str, Any]:
    """`wrap` for a model already serialized (common/domain/serialized.py)."""
    return {"id": doc_id("", natural)[1:], **meta, "body": json.loads(text)}


def unwrap(model: type[M], doc: dict[str, Any]) -> M:
    return model.model_validate(doc["body"])


def outbox_doc(event: BaseModel, natural: str, subject: str, project_id: str, **meta: Any) -> dict[str, Any]:
    return {"id": doc_id(OUTBOX, natural), "type": OUTBOX, "project_id": project_id, "subject": subject,
            **meta, "event": event.model_dump(mode="json")}


def outbox_event(model: type[M], doc: dict[str, Any]) -> M:
    return model.model_validate(doc["event"])


def outbox_from_feed(docs: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[Mapping[str, Any]]]:
    """The undelivered outbox events among change-feed documents (of every
    type), in the feed's order (within a partition, the order of the commits;
    never re-sorted by a writer's clock), as event dicts; and the outbox
    documents that are not readable (for quarantine). Orders, audit entries,
    streams, markers and outbox documents marked delivered are ignored."""
    picked: list[Mapping[str, Any]] = []
    bad: list[Mapping[str, Any]] = []
    for doc in docs:
        if doc.get("type") != OUTBOX or doc.get("x_delivered"):
            continue
        (picked if isinstance(doc.get("event"), dict) else bad).append(doc)
    return [dict(doc["event"]) for doc in picked], bad
