"""Files of inbound events (`oms ingest events|warehouse FILE`): JSON lines or
one JSON array, applied in batches (one transaction each) within one job run.

Nothing in a file is dropped: a line (or an element of a JSON array) that is
not JSON, not UTF-8 or refused by the bounded decoder is handed to the handler
as `Undecodable` and quarantined as it came; a JSON-array file whose array
itself is broken is quarantined whole and the file counts as rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.domain.models import JobRun, Reason
from common.service.bootstrap import Deps
from common.service.commands import (
    ENGINEERING_SOURCE,
    WAREHOUSE_SOURCE,
    ApplyWarehouseEvents,
    IngestEngineeringEvents,
    Undecodable,
    decode_json,
)
from common.service.decoding import JsonRefused, iter_array
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.warehouse import apply_warehouse_events
from common.service.jobs import JobRecorder, job_run
from common.service.quarantine import quarantine

EVENT_BATCH = 1000  # events per transaction


@dataclass
class EventFile:
    events: list[Any]
    rejected: str | None = None  # why the whole file could not be read as events


def _line(raw: bytes) -> Any:
    return decode_json(raw.rstrip(b"\r\n"))


def read_event_file(path: Path) -> EventFile:
    """Each line (or each element of one JSON array) decoded on its own by
    the bounded decoder: a poison value is that one event's quarantine
    reason, never the whole file's."""
    data = path.read_bytes()
    if data.lstrip()[:1] == b"[":
        try:
            text = data.decode("utf-8")
            return EventFile([Undecodable(text=value.text or "", error=value.msg, kind=value.kind)
                              if isinstance(value, JsonRefused) else value for value in iter_array(text)])
        except (UnicodeDecodeError, JsonRefused) as error:
            return EventFile([], rejected=f"{path.name} starts a JSON array but is not valid JSON: {error}")
    return EventFile([_line(raw) for raw in data.splitlines() if raw.strip()])


@dataclass(frozen=True)
class EventKind:
    job: str
    source: str
    apply: Callable[[Deps, Sequence[Any], str, JobRecorder], object]


def _engineering(deps: Deps, chunk: Sequence[Any], name: str, recorder: JobRecorder) -> object:
    return ingest_engineering_events(deps, IngestEngineeringEvents(chunk, channel="file", file_name=name), recorder)


def _warehouse(deps: Deps, chunk: Sequence[Any], name: str, recorder: JobRecorder) -> object:
    return apply_warehouse_events(deps, ApplyWarehouseEvents(chunk, channel="file", file_name=name), recorder)


ENGINEERING = EventKind("ingest-engineering-events", ENGINEERING_SOURCE, _engineering)
WAREHOUSE = EventKind("ingest-warehouse-events", WAREHOUSE_SOURCE, _warehouse)


def ingest_event_file(deps: Deps, kind: EventKind, path: Path,
                      progress: Callable[[int, int], None] | None = None) -> JobRun:
    """One job run for the whole file; `progress(done, total)` after each batch.
    A file rejected whole has `details["rejected"]` set and one quarantine record."""
    read = read_event_file(path)
    with job_run(deps, kind.job, f"file:{path.name}") as recorder:
        if read.rejected is not None:
            recorder.step = "read file"
            # The whole file is kept (a large one in a blob: common.service.quarantine).
            quarantine(deps, source=kind.source, payload={"file": path.name, "text": path.read_bytes()
                                                          .decode("utf-8", errors="replace")},
                       reasons=[Reason(loc=[], msg=read.rejected, type="file_invalid")], job_id=recorder.run.job_id)
            recorder.count("quarantined")
            recorder.reject()
            recorder.details.update(rejected=True, reasons=[{"loc": [], "msg": read.rejected}])
        total = len(read.events)
        for start in range(0, total, EVENT_BATCH):
            kind.apply(deps, read.events[start:start + EVENT_BATCH], path.name, recorder)
            if progress is not None:
                progress(min(start + EVENT_BATCH, total), total)
    return recorder.run
