"""Quarantine: what cannot be applied is kept, with every reason, for reprocessing."""

from __future__ import annotations

import json
from typing import Any

from common.domain.ids import quarantine_id
from common.domain.models import QuarantineRecord, Reason
from common.service.bootstrap import Deps


def quarantine(deps: Deps, *, source: str, payload: Any, reasons: list[Reason], job_id: str | None = None,
               event_id: str | None = None, project_id: str | None = None,
               order_id: str | None = None) -> QuarantineRecord:
    raw = json.dumps(payload, sort_keys=True, default=str).encode()
    record = QuarantineRecord(
        id=quarantine_id(source, event_id, raw),
        source=source,
        received_at=deps.clock.now(),
        reasons=reasons,
        payload=payload,
        job_id=job_id,
        event_id=event_id,
        project_id=project_id,
        order_id=order_id,
    )
    return deps.store.put_quarantine(record)
