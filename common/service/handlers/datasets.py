"""Parquet datasets in: project master, item catalogue and stock snapshots
(CONTRACT.md, Inbound: Parquet datasets; DESIGN.md section 5).

One handler per dataset behind `ingest_dataset`: the file is checked and
diffed with Arrow (common/ingest), then only what changed is written. A file
that cannot be taken is quarantined whole and nothing changes; bad rows go to
one quarantine record per file while the good rows load. Order of effects:
quarantine record, store writes, parked designs, the new snapshot, and (when
bad rows are reprocessed) the settled quarantine record last, so a crash
anywhere makes the next run redo the same idempotent writes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.domain.models import CatalogItem, JobRun, Project, QuarantineRecord, Reason
from common.domain.orders import MASTER_FIELDS
from common.domain.replenishment import ReorderPolicy
from common.domain.serialized import M
from common.ingest.documents import serialized
from common.ingest.limits import Limits
from common.ingest.memory import ingestion_pool
from common.ingest.pipeline import Plan, plan
from common.ingest.reader import Rejected, Source
from common.ingest.rows import take
from common.ingest.schema import (
    DATASETS,
    ITEM_CATALOG,
    PROJECT_MASTER,
    REORDER_POLICY,
    STOCK_SNAPSHOTS,
    DatasetSchema,
    dataset,
)
from common.ingest.snapshots import SnapshotFile, Snapshots
from common.ingest.validate import KEY, ROW
from common.service.bootstrap import Deps
from common.service.commands import (
    ConfirmDataset,
    EvaluateReplenishment,
    FollowProjectMaster,
    IngestDataset,
    ReevaluateParkedDesigns,
)
from common.service.handlers.engineering import reevaluate_parked_designs
from common.service.handlers.projects import follow_project_master
from common.service.handlers.replenishment import replenish_after
from common.service.jobs import JobRecorder, Resumable, job_run
from common.service.paging import every
from common.service.quarantine import CONTAINER as QUARANTINE_CONTAINER
from common.service.quarantine import quarantine

log = logging.getLogger("oms.datasets")

# The datasets after whose load the reorder thresholds are evaluated, as what triggered it.
REPLENISHMENT_TRIGGERS = {STOCK_SNAPSHOTS.name: "snapshot", PROJECT_MASTER.name: "master",
                          REORDER_POLICY.name: "policy"}
# on_progress(stage, done, total): "reading" rows read, "writing" rows written.
OnProgress = Callable[[str, int, int], None]
# CLI and other short names of the datasets.
ALIASES = {"master": PROJECT_MASTER.name, "catalog": ITEM_CATALOG.name, "stock": STOCK_SNAPSHOTS.name}
COUNTS = ("rows_read", "new", "changed", "unchanged", "removed", "quarantined")
# Rows turned into documents and written at a time, in one transaction (a
# commit costs about the same whatever its size: fewer, larger ones).
WRITE_CHUNK = 25_000
SORTED_BLOCK = 2 * WRITE_CHUNK  # rows gathered at a time when a part is written in key order
AHEAD = 3  # chunks gathered and prepared ahead of the writes
# How often the progress of a part is recorded while it is written (and at
# every stop, failure and end): a process killed outright redoes at most this
# much of idempotent writes, instead of one blob write per chunk.
PROGRESS_EVERY = 1.0  # seconds
REEVALUATE_CHUNK = 500
# Inline in the quarantine record (a Cosmos DB document holds at most 2 MB);
# the kept Parquet holds the first Limits.kept_bad_rows bad rows in full.
MAX_LISTED = 1_000  # reasons
ROWS_INLINE = 200  # bad rows


class IngestionIncomplete(Resumable):
    """The time budget ran out before every row was written; what was written
    is recorded, and the next attempt on the same file goes on from there."""


@dataclass(frozen=True)
class _Reprocess:
    record: QuarantineRecord
    rows: list[int]  # the original row number of each row of the kept file


class NotReprocessable(ValueError):
    """The quarantine record is not one of bad dataset rows that can be tried again."""


# ------------------------------------------------------------------ entry points
def ingest_dataset_file(deps: Deps, dataset_name: str, path: Path | str, channel: str = "file",
                        on_progress: OnProgress | None = None) -> JobRun:
    """`oms ingest master|catalog|stock FILE.parquet` and the inbox folders."""
    path = Path(path)
    return ingest_dataset(deps, IngestDataset(ALIASES.get(dataset_name, dataset_name), path, path.name, channel),
                          on_progress=on_progress)


def ingest_dataset_path(deps: Deps, dataset_name: str, path: Path | str) -> JobRun:
    """The embedded server's inbox folders (`oms serve`)."""
    return ingest_dataset_file(deps, dataset_name, path, channel="inbox")


def ingest_dataset_blob(deps: Deps, dataset_name: str, blob_name: str, data: bytes) -> JobRun:
    """The Blob triggers: the blob's bytes (Arrow reads them in place), within
    the function's time budget (`OMS_INGEST_TIME_BUDGET_SECONDS`)."""
    budget = deps.settings.ingest_time_budget_seconds or None
    return ingest_dataset(deps, IngestDataset(ALIASES.get(dataset_name, dataset_name), data, blob_name, "blob",
                                              time_budget=budget))


def reprocess_dataset_rows(deps: Deps, record_id: str) -> JobRun:
    """Try the bad rows of a quarantine record again (e.g. stock rows whose SKU
    is in the catalogue now). Only those rows: nothing is removed, and a row
    older than what the snapshot holds for its key is left out as stale. All
    applied: the record is marked reprocessed; else it stays open with the
    reasons of this attempt. Whole-file rejections are fixed at the source
    and dropped again instead."""
    record = deps.store.get_quarantine(record_id)
    if record is None:
        raise NotReprocessable(f"quarantine record {record_id} not found")
    payload = record.payload if isinstance(record.payload, dict) else {}
    if record.source not in DATASETS or payload.get("whole_file") is not False or "kept_at" not in payload:
        raise NotReprocessable(f"quarantine record {record_id} does not hold dataset rows")
    if record.status != "open":
        raise NotReprocessable(f"quarantine record {record_id} is {record.status}, not open")
    kept = str(payload["kept_at"])
    if kept.startswith(f"{QUARANTINE_CONTAINER}/"):
        data = deps.blobs.read(QUARANTINE_CONTAINER, kept.split("/", 1)[1])
    else:
        data = Path(kept).read_bytes()
    rows = pq.read_table(pa.BufferReader(data), columns=[ROW])[ROW].to_pylist()
    cmd = IngestDataset(record.source, data, f"{payload.get('file')} (quarantine {record.id})", "quarantine")
    return ingest_dataset(deps, cmd, _Reprocess(record, rows))


def ingest_dataset(deps: Deps, cmd: IngestDataset, reprocess: _Reprocess | None = None,
                   on_progress: OnProgress | None = None) -> JobRun:
    """`on_progress(stage, done, total)`: rows read ("reading") as each batch
    is read, rows written ("writing") as each chunk is written."""
    ds = dataset(cmd.dataset)
    reading = None if on_progress is None else partial(on_progress, "reading")
    started = time.perf_counter()
    # Arrow allocates from ingestion's pool throughout, the writes included (common/ingest/memory.py).
    with ingestion_pool(), job_run(deps, ds.job, f"{cmd.channel}:{cmd.name}") as recorder:
        for name in COUNTS:
            recorder.count(name, 0)
        recorder.details.update({"dataset": ds.name, "file": cmd.name, "rejected": False})
        snapshots = snapshots_of(deps)
        recorder.step = "read previous snapshot"
        # Opened, not read: the delta reads it a column at a time.
        previous = snapshots.open(ds.name, ds.key, dictionaries=ds.categorical)
        recorder.step = "validate and diff"
        try:
            result = plan(cmd.source, ds, previous, _Resolver(deps, snapshots) if ds.references else None,
                          partial=reprocess is not None, limits=limits_of(deps), on_rows=reading)
        except Rejected as rejected:
            _reject(deps, recorder, ds, cmd, rejected)
        else:
            recorder.details["validate_s"] = round(time.perf_counter() - started, 3)
            held = None if cmd.confirmed or reprocess is not None else _destructive(deps, result, previous)
            if held is not None:
                _hold(deps, recorder, cmd, result, held)
            else:
                deadline = started + cmd.time_budget if cmd.time_budget else None
                _apply(deps, recorder, cmd, result, snapshots, reprocess, deadline, on_progress)
        recorder.details["duration_s"] = round(time.perf_counter() - started, 3)
    return recorder.run


def limits_of(deps: Deps) -> Limits:
    s = deps.settings
    return Limits(max_rows=s.ingest_max_rows, max_memory_mb=s.ingest_max_memory_mb,
                  max_uncompressed_mb=s.ingest_max_uncompressed_mb)


def snapshots_of(deps: Deps) -> Snapshots:
    return Snapshots(deps.blobs, Path(deps.settings.data_dir) / "snapshots")


# ------------------------------------------------------------------ rejected
def _digest(source: Source) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    with source.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _size(source: Source) -> int:
    return len(source) if isinstance(source, bytes) else source.stat().st_size


def _reject(deps: Deps, recorder: JobRecorder, ds: DatasetSchema, cmd: IngestDataset, rejected: Rejected) -> None:
    digest = _digest(cmd.source)
    record = quarantine(
        deps, source=ds.name, reasons=rejected.reasons, job_id=recorder.run.job_id,
        event_id=f"file:{cmd.name}#{digest[:16]}",
        payload={"dataset": ds.name, "file": cmd.name, "channel": cmd.channel, "bytes": _size(cmd.source),
                 "sha256": digest, "rows": rejected.rows, "whole_file": True})
    recorder.reject()
    recorder.count("rejected")
    recorder.count("quarantined", rejected.rows)
    recorder.details.update({"rejected": True, "quarantine_id": record.id,
                             "reasons": [r.model_dump(mode="json") for r in rejected.reasons]})
    log.warning("%s %s rejected: %s", ds.name, cmd.name, rejected)


# ------------------------------------------------------------------ references
class _Resolver:
    """Reference sets for the row checks: SKUs in the catalogue, known warehouses."""

    def __init__(self, deps: Deps, snapshots: Snapshots) -> None:
        self.deps = deps
        self.snapshots = snapshots

    def __call__(self, ref: str, values: pa.Array) -> pa.Array:
        if ref == "catalog":
            found = self.deps.store.get_catalog([v for v in values.to_pylist() if v is not None])
            return pa.array(sorted(found), pa.string())
        if ref == "warehouses":
            return pa.array(sorted(self.warehouses()), pa.string())
        raise ValueError(f"unknown reference set {ref}")

    def warehouses(self) -> set[str]:
        """Warehouses of the project master (its snapshot, else the stored
        projects) and OMS_WAREHOUSES."""
        known = set(self.deps.settings.warehouses)
        master = self.snapshots.load(PROJECT_MASTER.name, columns=["warehouse_id"])
        if master is not None:
            known.update(v for v in pc.unique(master["warehouse_id"]).to_pylist() if v)
            return known
        projects = every(lambda token: self.deps.store.list_projects(limit=1000, continuation=token))
        known.update(p.warehouse_id for p in projects if p.warehouse_id and not p.removed)
        return known


# ------------------------------------------------------------------ apply
def _apply(deps: Deps, recorder: JobRecorder, cmd: IngestDataset, result: Plan, snapshots: Snapshots,
           reprocess: _Reprocess | None = None, deadline: float | None = None,
           on_progress: OnProgress | None = None) -> None:
    ds, delta = result.dataset, result.delta
    recorder.count("rows_read", result.rows_read)
    recorder.count("new", delta.new.num_rows)
    recorder.count("changed", delta.changed.num_rows)
    recorder.count("unchanged", delta.unchanged)
    recorder.count("removed", delta.removed_count)
    recorder.count("quarantined", result.quarantined)
    recorder.count("created", delta.new.num_rows)
    recorder.count("modified", delta.changed.num_rows)
    recorder.count("skipped", delta.unchanged)
    recorder.count("skipped_unchanged", delta.unchanged)
    if delta.carried:
        recorder.count("carried", delta.carried)
    if result.stale:
        recorder.count("skipped_stale", result.stale)
        recorder.count("skipped", result.stale)
    recorder.details["changed_columns"] = delta.column_counts()
    if delta.removed is not None and delta.removed.num_rows:
        recorder.details["removed_keys"] = delta.removed[KEY].slice(0, 100).to_pylist()

    if reprocess is None and result.quarantined:
        recorder.step = "quarantine bad rows"
        _quarantine_rows(deps, recorder, cmd, result)
    recorder.step = "write"
    progress = None if reprocess is not None else Progress(deps, ds.name, _digest(cmd.source))
    writer = _ChunkWriter(recorder, progress, deadline)
    if on_progress is not None:
        # Removed stock rows are not written (a snapshot never deletes stock).
        removed = delta.removed_count if ds in (PROJECT_MASTER, ITEM_CATALOG) else 0
        total = delta.new.num_rows + delta.changed.num_rows + removed
        writer.on_written = lambda written: on_progress("writing", min(written, total), total)
    # The new snapshot is written beside the store writes, and put in place after them.
    snapshot = snapshots.prepare(ds.name, result.snapshot) if result.good_count or result.partial else None
    try:
        if ds is PROJECT_MASTER:
            _write_projects(deps, recorder, result, writer)
        elif ds is ITEM_CATALOG:
            _write_catalog(deps, result, writer)
        elif ds is REORDER_POLICY:
            _write_policies(deps, result, writer)
        else:
            _write_stock(deps, recorder, result, writer)
    except BaseException:
        if snapshot is not None:
            snapshot.abandon()
        raise
    if snapshot is not None:
        recorder.step = "write snapshot"
        snapshot.commit()
    trigger = REPLENISHMENT_TRIGGERS.get(ds.name)
    if trigger is not None and (delta.new.num_rows or delta.changed.num_rows or delta.removed_count):
        recorder.step = "replenishment"
        report = replenish_after(deps, EvaluateReplenishment(trigger, correlation_id=recorder.run.job_id,
                                                             arrived=_counted_keys(ds, delta)))
        if report is not None and report.changes:
            recorder.details["replenishment"] = report.to_json()
    # else: no good row says nothing about what is stored; the snapshot stays.
    if progress is not None:
        progress.done()
    if reprocess is not None:
        # Last: a crash before it leaves the record open, so reprocessing it again redoes the writes.
        recorder.step = "update quarantine record"
        _settle(deps, recorder, reprocess, result)


def _quarantine_rows(deps: Deps, recorder: JobRecorder, cmd: IngestDataset, result: Plan) -> None:
    ds = result.dataset
    digest = _digest(cmd.source)
    kept = _keep_bad_rows(deps, ds, digest, result.bad)
    listed = result.bad.slice(0, ROWS_INLINE)
    rows = [{"row": r.pop(ROW), "values": r} for r in
            listed.select([n for n in listed.column_names if n != KEY]).to_pylist()]
    reasons = result.reasons[:MAX_LISTED]
    total = sum(int(str(c["rows"])) for c in result.reason_counts)
    if total > len(reasons):
        reasons.append(Reason(loc=["file"], type="truncated", msg=(
            f"{total - len(reasons)} more reasons (counted by column and type in reason_counts); the first "
            f"{result.bad.num_rows} of the {result.quarantined} bad rows are kept in {kept}")))
    record = quarantine(
        deps, source=ds.name, reasons=reasons, job_id=recorder.run.job_id,
        event_id=f"rows:{cmd.name}#{digest[:16]}",
        payload={"dataset": ds.name, "file": cmd.name, "channel": cmd.channel, "sha256": digest,
                 "whole_file": False, "rows_read": result.rows_read, "bad_rows": result.quarantined,
                 "bad_rows_kept": result.bad.num_rows, "reason_counts": result.reason_counts,
                 "kept_at": kept, "rows": rows})
    recorder.details["quarantine_id"] = record.id


# ------------------------------------------------------------ destructive dumps
def _destructive(deps: Deps, result: Plan, previous: SnapshotFile | None) -> dict[str, Any] | None:
    """What the dump would remove (master) or deactivate (catalogue) when that
    is more than OMS_INGEST_MAX_REMOVE_SHARE of what is stored; else None."""
    ds, delta = result.dataset, result.delta
    stored = 0 if previous is None else previous.num_rows
    if not stored or ds is STOCK_SNAPSHOTS:
        return None
    removing = delta.removed_count
    deactivating = 0
    if ds is ITEM_CATALOG and delta.changed.num_rows and "active" in delta.changed.column_names:
        was = pc.fill_null(delta.previous_of_changed["active"], True)
        deactivating = int(pc.sum(pc.and_(was, pc.invert(pc.fill_null(delta.changed["active"], True)))).as_py() or 0)
    share = (removing + deactivating) / stored
    limit = deps.settings.ingest_max_remove_share
    if share <= limit:
        return None
    return {"stored": stored, "removed": removing, "deactivated": deactivating, "share": round(share, 4),
            "limit": limit, "new": delta.new.num_rows, "changed": delta.changed.num_rows,
            "unchanged": delta.unchanged, "bad_rows": result.quarantined}


def _hold(deps: Deps, recorder: JobRecorder, cmd: IngestDataset, result: Plan, held: dict[str, Any]) -> None:
    """Keep the file and quarantine it whole, waiting for an operator: it
    would remove or deactivate too much. Nothing is written."""
    ds = result.dataset
    digest = _digest(cmd.source)
    name = f"{ds.name}/held-{digest[:32]}.parquet"
    data = cmd.source if isinstance(cmd.source, bytes) else Path(cmd.source).read_bytes()
    deps.blobs.write(QUARANTINE_CONTAINER, name, data)
    what = "deactivate" if ds is ITEM_CATALOG else "remove"
    reason = Reason(loc=["file"], type="needs_confirmation", msg=(
        f"the file would {what} {held['removed'] + held['deactivated']} of the {held['stored']} rows stored "
        f"({held['share']:.1%}, more than OMS_INGEST_MAX_REMOVE_SHARE={held['limit']:g}): confirm it to apply "
        f"(POST /api/quarantine/{{id}}/confirm or oms quarantine confirm ID)"))
    record = quarantine(deps, source=ds.name, reasons=[reason], job_id=recorder.run.job_id,
                        event_id=f"held:{cmd.name}#{digest[:16]}",
                        payload={"dataset": ds.name, "file": cmd.name, "channel": cmd.channel, "sha256": digest,
                                 "whole_file": True, "needs_confirmation": True,
                                 "kept_at": f"{QUARANTINE_CONTAINER}/{name}", "would_apply": held})
    recorder.reject()
    recorder.count("rejected")
    recorder.details.update({"rejected": True, "needs_confirmation": True, "quarantine_id": record.id,
                             "would_apply": held, "reasons": [reason.model_dump(mode="json")]})
    log.warning("%s %s held for confirmation: %s", ds.name, cmd.name, reason.msg)


def confirm_dataset(deps: Deps, cmd: ConfirmDataset) -> JobRun:
    """Apply a dump held for confirmation, as it was, and mark its record
    reprocessed (last: a crash before leaves it open to confirm again)."""
    record = deps.store.get_quarantine(cmd.record_id)
    payload = record.payload if record is not None and isinstance(record.payload, dict) else {}
    if record is None or not payload.get("needs_confirmation"):
        raise NotReprocessable(f"quarantine record {cmd.record_id} is not a dump waiting for confirmation")
    if record.status != "open":
        raise NotReprocessable(f"quarantine record {cmd.record_id} is {record.status}, not open")
    data = deps.blobs.read(QUARANTINE_CONTAINER, str(payload["kept_at"]).split("/", 1)[1])
    run = ingest_dataset(deps, IngestDataset(record.source, data, f"{payload.get('file')} (confirmed by "
                                             f"{cmd.actor.id})", "confirmation", confirmed=True))
    if run.status == "succeeded":
        deps.store.put_quarantine(record.model_copy(update={"status": "reprocessed", "job_id": run.job_id}))
    return run


def _settle(deps: Deps, recorder: JobRecorder, reprocess: _Reprocess, result: Plan) -> None:
    """The reprocessed record: done, or still open with this attempt's reasons
    (row numbers of the original file)."""
    record = reprocess.record
    if not result.quarantined:
        deps.store.put_quarantine(record.model_copy(update={"status": "reprocessed"}))
    else:
        reasons = [r.model_copy(update={"loc": ["row", reprocess.rows[int(r.loc[1])], *r.loc[2:]]})
                   if r.loc[:1] == ["row"] else r for r in result.reasons[:MAX_LISTED]]
        deps.store.put_quarantine(record.model_copy(update={"reasons": reasons, "job_id": recorder.run.job_id}))
    recorder.details["quarantine_id"] = record.id


def _keep_bad_rows(deps: Deps, ds: DatasetSchema, digest: str, bad: pa.Table) -> str:
    """The bad rows as Parquet, for reprocessing: `quarantine/<dataset>/<sha>.parquet`."""
    table = bad.drop_columns([KEY]) if KEY in bad.column_names else bad
    name = f"{ds.name}/{digest[:32]}.parquet"
    sink = io.BytesIO()
    pq.write_table(table, sink)
    deps.blobs.write(QUARANTINE_CONTAINER, name, sink.getvalue())
    return f"{QUARANTINE_CONTAINER}/{name}"


def _qualifies(deps: Deps, table: pa.Table) -> pa.ChunkedArray | pa.Array:
    policy = deps.policy
    milestone = pc.is_in(table["milestone"], value_set=pa.array(sorted(policy.milestones), pa.string()))
    blocked = pc.is_in(table["project_status"], value_set=pa.array(sorted(policy.blocking_statuses), pa.string()))
    return pc.fill_null(pc.and_(milestone, pc.invert(blocked)), False)


class Progress:
    """How far the writes of one file got, per part (new, changed, removed
    rows), kept in the blob store under `ingest-progress/<dataset>/<sha256>`:
    an attempt that stops (time budget, crash, host timeout) leaves it, and the
    next attempt on the same file skips what was written (a process killed
    outright redoes up to PROGRESS_EVERY of idempotent writes). The plan of a file
    is the same every time (the previous snapshot is replaced only when every
    write is done), so "the first N rows of part X" names the same rows."""

    CONTAINER = "ingest-progress"

    def __init__(self, deps: Deps, dataset_name: str, digest: str) -> None:
        self.blobs = deps.blobs
        self.name = f"{dataset_name}/{digest[:32]}.json"
        self.written: dict[str, int] = {}
        if self.blobs.exists(self.CONTAINER, self.name):
            self.written = dict(json.loads(self.blobs.read(self.CONTAINER, self.name)).get("written", {}))

    def save(self, part: str, rows: int) -> None:
        self.written[part] = rows
        self.blobs.write(self.CONTAINER, self.name, json.dumps({"written": self.written}).encode())

    def done(self) -> None:
        self.blobs.delete(self.CONTAINER, self.name)


class _ChunkWriter:
    """Writes each part of a plan in chunks: skips what an earlier attempt
    wrote, records what it writes, and stops when the budget is spent."""

    def __init__(self, recorder: JobRecorder, progress: Progress | None, deadline: float | None) -> None:
        self.recorder = recorder
        self.progress = progress
        self.deadline = deadline
        self.resumed = 0
        self.wrote = False
        self.written = 0
        self.on_written: Callable[[int], None] | None = None

    def write(self, part: str, table: pa.Table | None, put: Callable[[Any], object],
              prepare: Callable[[pa.Table], Any] | None = None) -> None:
        """`put(prepare(chunk))` for each chunk; `prepare` (turning rows into
        documents) runs one chunk ahead in a thread while the store writes."""
        if table is None or not table.num_rows:
            return
        done = self.progress.written.get(part, 0) if self.progress is not None else 0
        if done:
            self.resumed += done
            self.recorder.details["resumed_rows"] = self.resumed
        end = done
        saved = time.perf_counter()
        chunks = _one_ahead(_chunks_of(table, done), prepare)
        try:
            for start, chunk, payload in chunks:
                # Past the budget, stop, but never before this attempt wrote a
                # chunk: every attempt makes progress, however slow the store.
                if self.wrote and self.deadline is not None and time.perf_counter() > self.deadline:
                    self._record(part, end)
                    written = sum(self.progress.written.values()) if self.progress is not None else start
                    raise IngestionIncomplete(
                        f"the time budget ran out with {written} rows written; the next attempt on this file "
                        f"resumes from there ({part} row {start} of {table.num_rows})")
                put(payload)
                end = start + chunk.num_rows
                self.wrote = True
                self.recorder.count("rows_written", chunk.num_rows)
                self.written += chunk.num_rows
                if self.on_written is not None:
                    self.on_written(self.written)
                if time.perf_counter() - saved >= PROGRESS_EVERY:
                    self._record(part, end)
                    saved = time.perf_counter()
        finally:
            chunks.close()
            # At a stop, a failure and the part's end: what was written is recorded.
            self._record(part, end)

    def _record(self, part: str, end: int) -> None:
        if self.progress is not None and end > self.progress.written.get(part, 0):
            self.progress.save(part, end)


def _chunks_of(table: pa.Table, done: int) -> Iterator[tuple[int, pa.Table]]:
    """The chunks of a part from row `done` on. Several chunks go in key
    order: a chunk of keys spread over the whole key range touches most of a
    store's index pages, and each commit wrote them all again (a first load
    of a million projects on SQLite rewrote its index 200 times). The order
    is the same on every attempt, so "the first N rows" of a part still
    names the same rows."""
    if table.num_rows <= WRITE_CHUNK or KEY not in table.column_names:
        for start in range(done, table.num_rows, WRITE_CHUNK):
            yield start, table.slice(start, WRITE_CHUNK)
        return
    order = np.asarray(pc.sort_indices(table[KEY]), dtype=np.int64)
    rows = table.drop_columns([KEY])  # no writer reads it (it repeats the key's column): not gathered
    for block_start in range(done, table.num_rows, SORTED_BLOCK):  # rows gathered a block of chunks at a time
        block = take(rows, order[block_start:block_start + SORTED_BLOCK])
        for offset in range(0, block.num_rows, WRITE_CHUNK):
            yield block_start + offset, block.slice(offset, WRITE_CHUNK)


def _one_ahead(chunks: Iterator[tuple[int, pa.Table]], prepare: Callable[[pa.Table], Any] | None
               ) -> Generator[tuple[int, pa.Table, Any], None, None]:
    """Each chunk with what `prepare` makes of it. The chunks are gathered
    (a block of rows in key order at a time) and prepared in a thread, up to
    AHEAD chunks ahead of the writes: Arrow and SQLite release the GIL, so
    the gather and the documents of the next chunks are made while this one
    is written, and the writing thread does nothing but write. Closing the
    generator (a stop, a failure) stops the thread before it gathers more."""
    ready: queue.Queue[tuple[int, pa.Table, Any] | BaseException | None] = queue.Queue(maxsize=AHEAD)
    stopped = threading.Event()

    def offer(item: tuple[int, pa.Table, Any] | BaseException | None) -> bool:
        while not stopped.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for start, chunk in chunks:
                if stopped.is_set() or not offer((start, chunk, chunk if prepare is None else prepare(chunk))):
                    return
            offer(None)
        except BaseException as error:  # handed to the writing thread, which raises it
            offer(error)

    worker = threading.Thread(target=work, name="ingest-prepare", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        worker.join()


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.select([n for n in table.column_names if n not in (KEY, ROW)]).to_pylist()
    return rows


def _models(rows: pa.Table, model: type[M], key: str, **fixed: Any) -> Iterable[M]:
    """The rows as validated models: serialized column by column when every
    column allows it (common/ingest/documents.py), else one model a row."""
    made = serialized(rows, model, key, **fixed)
    return made if made is not None else [model.model_validate({**r, **fixed}) for r in _rows(rows)]


def _write_projects(deps: Deps, recorder: JobRecorder, result: Plan, writer: _ChunkWriter) -> None:
    delta = result.delta
    for part, table in (("new", delta.new), ("changed", delta.changed)):
        writer.write(part, table, deps.store.put_projects, lambda rows: _models(rows, Project, "project_id"))
    writer.write("removed", delta.removed, deps.store.put_projects,
                 lambda rows: _models(rows, Project, "project_id", removed=True))
    # Projects that qualify now and did not before: their parked designs become orders.
    flipped = delta.new.filter(_qualifies(deps, delta.new))[KEY].to_pylist()
    if delta.changed.num_rows:
        was = _qualifies(deps, delta.previous_of_changed)
        now = _qualifies(deps, delta.changed)
        flipped += delta.changed.filter(pc.and_(now, pc.invert(was)))[KEY].to_pylist()
    applied = conflicted = 0
    recorder.step = "re-evaluate parked designs"
    # Few of them hold parked designs (none on a first load): found in one
    # indexed read, before any project is read back.
    holding = sorted({s.project_id for s in deps.store.parked_streams(flipped)}) if flipped else []
    for start in range(0, len(holding), REEVALUATE_CHUNK):
        chunk = holding[start:start + REEVALUATE_CHUNK]
        parked = reevaluate_parked_designs(deps, ReevaluateParkedDesigns(chunk, recorder.run.job_id))
        applied += len(parked.results)
        conflicted += len(parked.conflicted)
    recorder.count("qualified", len(flipped))
    recorder.count("parked_applied", applied)
    if conflicted:
        recorder.count("parked_conflicts", conflicted)
    # Open orders follow the master's priority, gated flag, plan type, market and warehouse.
    recorder.step = "open orders follow the master"
    changed = [name for name in MASTER_FIELDS if name in delta.masks]
    moved: list[str] = []
    if changed and delta.changed.num_rows:
        mask = delta.masks[changed[0]]
        for name in changed[1:]:
            mask = pc.or_(mask, delta.masks[name])
        moved = delta.changed.filter(mask)[KEY].to_pylist()
    if moved:
        followed = follow_project_master(deps, FollowProjectMaster(moved, recorder.run.job_id))
        recorder.count("orders_following_master", len(followed.updated))
        recorder.count("orders_sent_back", len(followed.sent_back))
        if followed.conflicted:
            recorder.count("master_conflicts", len(followed.conflicted))


def _write_catalog(deps: Deps, result: Plan, writer: _ChunkWriter) -> None:
    delta = result.delta
    for part, table in (("new", delta.new), ("changed", delta.changed)):
        writer.write(part, table, deps.store.put_catalog, lambda rows: _models(rows, CatalogItem, "sku"))
    # An item gone from the catalogue is kept, inactive: orders naming it stay explainable.
    writer.write("removed", delta.removed, deps.store.put_catalog,
                 lambda rows: _models(rows, CatalogItem, "sku", active=False))


def _counted_keys(ds: DatasetSchema, delta: Any) -> frozenset[tuple[str, str]]:
    """The (warehouse, SKU)s a snapshot counted anew: stock came in for them
    as far as replenishment is concerned."""
    if ds is not STOCK_SNAPSHOTS:
        return frozenset()
    keys: set[tuple[str, str]] = set()
    for table in (delta.new, delta.changed):
        keys.update(zip(table["warehouse_id"].to_pylist(), table["sku"].to_pylist(), strict=True))
    return frozenset(keys)


def _write_policies(deps: Deps, result: Plan, writer: _ChunkWriter) -> None:
    delta = result.delta
    for part, table in (("new", delta.new), ("changed", delta.changed)):
        writer.write(part, table, lambda rows: deps.store.put_reorder_policies(
            ReorderPolicy.model_validate({**r, "updated_at": deps.clock.now()}) for r in _rows(rows)))
    # A policy gone from the dataset is kept, removed: its requests stay explainable.
    writer.write("removed", delta.removed, lambda rows: deps.store.put_reorder_policies(
        ReorderPolicy.model_validate({**r, "removed": True, "updated_at": deps.clock.now()}) for r in _rows(rows)))


def _put_stock(deps: Deps, rows: pa.Table) -> int:
    """Rows set; the store skips a row older than the count it holds."""
    written = 0
    for as_of in pc.unique(rows["as_of"]).to_pylist():
        same = rows.filter(pc.equal(rows["as_of"], pa.scalar(as_of, rows["as_of"].type)))
        on_hand = zip(same["warehouse_id"].to_pylist(), same["sku"].to_pylist(), same["on_hand"].to_pylist(),
                      strict=True)
        stamp = as_of if isinstance(as_of, datetime) else datetime.now(UTC)
        written += deps.inventory.set_on_hand(list(on_hand), stamp)
    return written


def _write_stock(deps: Deps, recorder: JobRecorder, result: Plan, writer: _ChunkWriter) -> None:
    """The store, not the snapshot file, knows the newest count of each row
    (another data folder, a reprocessed row or an older build may have set
    it): a row it refused as older is counted skipped_stale, not new or changed."""
    delta = result.delta

    def put(part: str, rows: pa.Table) -> None:
        stale = rows.num_rows - _put_stock(deps, rows)
        if stale:
            recorder.count(part, -stale)
            recorder.count("created" if part == "new" else "modified", -stale)
            recorder.count("skipped_stale", stale)
            recorder.count("skipped", stale)

    for part, table in (("new", delta.new), ("changed", delta.changed)):
        writer.write(part, table, partial(put, part))
