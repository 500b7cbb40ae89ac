"""Quarantine: what cannot be applied is kept, with every reason, for reprocessing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from common.domain.ids import quarantine_id
from common.domain.models import QuarantineRecord, Reason
from common.service.bootstrap import Deps

CONTAINER = "quarantine"  # Blob container for what is too large to keep in the record itself
# A body kept inline stays well inside a Cosmos DB item (2 MB, reasons and all);
# a larger one is kept whole in a blob, with its beginning in the record.
INLINE_CHARS = 262_144
PREFIX_CHARS = 4096


def quarantine(deps: Deps, *, source: str, payload: Any, reasons: list[Reason], job_id: str | None = None,
               event_id: str | None = None, project_id: str | None = None,
               order_id: str | None = None) -> QuarantineRecord:
    raw = json.dumps(payload, sort_keys=True, default=str).encode()
    record = QuarantineRecord(
        id=quarantine_id(source, event_id, raw),
        source=source,
        received_at=deps.clock.now(),
        reasons=reasons,
        payload=_kept(deps, source, payload, raw),
        job_id=job_id,
        event_id=event_id,
        project_id=project_id,
        order_id=order_id,
    )
    return deps.store.put_quarantine(record)


def _kept(deps: Deps, source: str, payload: Any, raw: bytes) -> Any:
    if len(raw) <= INLINE_CHARS:
        return payload
    digest = hashlib.sha256(raw).hexdigest()
    name = f"{source}/{digest}.{'txt' if isinstance(payload, str) else 'json'}"
    deps.blobs.write(CONTAINER, name, payload.encode() if isinstance(payload, str) else raw)
    text = payload if isinstance(payload, str) else raw.decode()
    return {"text_prefix": text[:PREFIX_CHARS], "bytes": len(raw), "sha256": digest, "kept_at": f"{CONTAINER}/{name}"}
