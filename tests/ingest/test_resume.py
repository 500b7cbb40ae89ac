"""A large first load that cannot finish in one function run resumes where
it stopped: each attempt writes within its time budget (always at least one
chunk), records how far it got, and the next attempt on the same file skips
what was written. A store that fails half way loses nothing either."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.ports import Store
from common.service.bootstrap import Deps
from common.service.commands import IngestDataset
from common.service.handlers.datasets import (
    WRITE_CHUNK,
    IngestionIncomplete,
    Progress,
    ingest_dataset,
    ingest_dataset_blob,
)
from tests.ingest.conftest import all_projects, master_table, project_row

ROWS = 2 * WRITE_CHUNK + 1234  # three chunks


def dump(rows: int = ROWS) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(master_table([project_row(n) for n in range(rows)]), sink)
    return bytes(sink.getvalue().to_pybytes())


class CountingStore:
    """The real store, counting the projects written (and failing on demand)."""

    def __init__(self, inner: Store, fail_after: int | None = None) -> None:
        self.inner = inner
        self.written = 0
        self.fail_after = fail_after

    def put_projects(self, projects: Any) -> int:
        batch = list(projects)
        if self.fail_after is not None and self.written + len(batch) > self.fail_after:
            raise ConnectionError("the store went away")
        self.written += len(batch)
        return self.inner.put_projects(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def counting(deps: Deps, **kw: Any) -> tuple[Deps, CountingStore]:
    store = CountingStore(deps.store, **kw)
    return dataclasses.replace(deps, store=cast(Store, store)), store


def test_a_first_load_past_its_time_budget_resumes_where_it_stopped_and_never_starts_over(deps: Deps) -> None:
    data = dump()
    budgeted, store = counting(deps)
    attempts = 0
    while True:
        attempts += 1
        try:
            run = ingest_dataset(budgeted, IngestDataset("project-master", data, "first.parquet", "blob",
                                                         time_budget=1e-9))
            break
        except IngestionIncomplete as stopped:
            assert "resumes" in str(stopped)
            job = deps.store.list_jobs(1)[0]
            # A planned stop, not a failure: recorded incomplete, told as a warning, no incident.
            assert job.status == "incomplete" and job.error is not None and job.error["type"] == "IngestionIncomplete"
            assert deps.store.list_incidents().items == []
            told = deps.notifier.sent[-1]  # type: ignore[attr-defined]
            assert told["level"] == "warning" and "incomplete" in told["subject"] and "resumes" in told["subject"]
            assert not any(m["level"] == "error" for m in deps.notifier.sent)  # type: ignore[attr-defined]
        assert attempts < 10

    assert attempts == 3  # one chunk per attempt when the budget is spent at once
    assert store.written == ROWS  # every row written once: no attempt started over
    assert run.status == "succeeded" and run.details["resumed_rows"] == 2 * WRITE_CHUNK
    assert len(all_projects(deps)) == ROWS
    assert deps.blobs.list(Progress.CONTAINER) == []  # done: the progress record is gone
    again = ingest_dataset(budgeted, IngestDataset("project-master", data, "first.parquet", "blob"))
    assert (again.counts["unchanged"], again.counts["new"], store.written) == (ROWS, 0, ROWS)


def test_a_store_that_fails_half_way_leaves_the_rows_before_and_the_next_attempt_writes_the_rest(
        deps: Deps) -> None:
    data = dump()
    failing, store = counting(deps, fail_after=WRITE_CHUNK + 10)
    with pytest.raises(ConnectionError):
        ingest_dataset_blob(failing, "project-master", "first.parquet", data)
    assert store.written == WRITE_CHUNK

    store.fail_after = None
    run = ingest_dataset_blob(failing, "project-master", "first.parquet", data)

    assert run.status == "succeeded" and run.counts["rows_written"] == ROWS - WRITE_CHUNK
    assert store.written == ROWS
    assert len(all_projects(deps)) == ROWS


def test_another_file_does_not_resume_from_a_stopped_one(deps: Deps) -> None:
    budgeted, store = counting(deps)
    with pytest.raises(IngestionIncomplete):
        ingest_dataset(budgeted, IngestDataset("project-master", dump(), "a.parquet", "blob", time_budget=1e-9))

    other = dump(ROWS + 1)  # a different file: its own plan (against the unchanged snapshot), its own progress
    run = ingest_dataset(budgeted, IngestDataset("project-master", other, "b.parquet", "blob"))

    assert run.status == "succeeded" and "resumed_rows" not in run.details
    assert run.counts["new"] == run.counts["rows_written"] == ROWS + 1
    assert store.written == WRITE_CHUNK + ROWS + 1
    assert len(all_projects(deps)) == ROWS + 1
