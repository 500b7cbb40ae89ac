"""The write phase's plumbing: chunks gathered and prepared in a thread ahead
of the writes (`_one_ahead`), and the new snapshot written beside the writes
but put in place only after them (`Snapshots.prepare`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.ingest.schema import PROJECT_MASTER
from common.ingest.snapshots import Snapshots
from common.service.bootstrap import Deps
from common.service.handlers import datasets
from common.service.handlers.datasets import ingest_dataset_file
from tests.ingest.conftest import all_projects, master_table, project_row


def _chunks(n: int, gathered: list[int]) -> Iterator[tuple[int, pa.Table]]:
    for start in range(n):
        gathered.append(start)
        yield start, pa.table({"x": [start]})


def test_chunks_come_in_order_each_with_what_was_prepared_of_it() -> None:
    gathered: list[int] = []
    out = list(datasets._one_ahead(_chunks(10, gathered), lambda chunk: chunk["x"][0].as_py() * 2))
    assert [(start, chunk["x"][0].as_py(), payload) for start, chunk, payload in out] == [
        (i, i, 2 * i) for i in range(10)]
    plain = list(datasets._one_ahead(_chunks(3, []), None))
    assert [payload is chunk for _, chunk, payload in plain] == [True, True, True]


def test_a_stop_stops_the_thread_before_it_gathers_much_more() -> None:
    gathered: list[int] = []
    ahead = datasets._one_ahead(_chunks(1000, gathered), lambda chunk: chunk)
    next(ahead)
    ahead.close()  # the writer stopped (time budget, failure)
    assert len(gathered) <= datasets.AHEAD + 3
    assert not [t for t in threading.enumerate() if t.name == "ingest-prepare"]


def test_a_failure_while_preparing_is_raised_where_the_chunks_are_written() -> None:
    def prepare(chunk: pa.Table) -> int:
        if chunk["x"][0].as_py() == 3:
            raise ValueError("cannot make this document")
        return 0

    with pytest.raises(ValueError, match="cannot make"):
        list(datasets._one_ahead(_chunks(10, []), prepare))


def _dump(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "master.parquet"
    pq.write_table(master_table([project_row(n) for n in range(rows)]), path)
    return path


def test_the_snapshot_is_put_in_place_only_after_the_writes(deps: Deps, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = Path(deps.settings.data_dir) / "snapshots" / f"{PROJECT_MASTER.name}.parquet"
    seen: list[bool] = []
    put = deps.store.put_projects

    def watching(projects: object) -> int:
        seen.append(snapshot.exists())
        return put(projects)  # type: ignore[arg-type]

    monkeypatch.setattr(deps.store, "put_projects", watching)
    run = ingest_dataset_file(deps, "master", _dump(tmp_path, 2 * datasets.WRITE_CHUNK + 10))
    assert run.status == "succeeded" and seen == [False, False, False]
    assert snapshot.exists() and not snapshot.with_suffix(".parquet.partial").exists()
    assert pq.read_metadata(snapshot).num_rows == 2 * datasets.WRITE_CHUNK + 10


def test_writes_that_fail_leave_the_previous_snapshot_and_no_partial_one(deps: Deps, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = ingest_dataset_file(deps, "master", _dump(tmp_path, 20))
    assert first.status == "succeeded"
    snapshots = Snapshots(None, Path(deps.settings.data_dir) / "snapshots")
    before = snapshots.load(PROJECT_MASTER.name)

    def failing(projects: object) -> int:
        raise ConnectionError("the store went away")

    monkeypatch.setattr(deps.store, "put_projects", failing)
    with pytest.raises(ConnectionError):
        ingest_dataset_file(deps, "master", _dump(tmp_path, 30))
    after = snapshots.load(PROJECT_MASTER.name)
    assert before is not None and after is not None and after.equals(before)
    assert not list(snapshots.root.glob("*.partial"))
    assert len(all_projects(deps)) == 20
