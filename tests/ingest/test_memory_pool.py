"""Ingestion allocates from its own Arrow pool (common/ingest/memory.py):
the plan is the same whichever pool allocates it, the process's default pool
is put back when the last ingestion ends, and under an address-space cap
nothing is switched."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.ingest import memory
from common.ingest.memory import ingestion_pool
from common.ingest.pipeline import Plan, plan
from common.ingest.schema import PROJECT_MASTER
from common.ingest.snapshots import Snapshots
from tests.ingest.conftest import master_table, project_row


def _outcome(result: Plan) -> tuple[list[str], list[str], list[str], dict[str, list[str]], int]:
    delta = result.delta
    removed = delta.removed[PROJECT_MASTER.key[0]].to_pylist() if delta.removed is not None else []
    return (delta.new["project_id"].to_pylist(), removed, result.bad["__row"].to_pylist(),
            delta.changed_columns(), delta.unchanged)


def _files(tmp_path: Path) -> tuple[Path, Snapshots]:
    previous = [project_row(n, national_priority=1 + n % 5) for n in range(300)]
    current = [project_row(n, national_priority=1 + (n + (n % 7 == 0)) % 5) for n in range(5, 320)]
    current.append(project_row(7))  # a duplicated key: two bad rows
    current.append(project_row(400, latitude=None))  # a missing value: a bad row
    snapshots = Snapshots(None, tmp_path / "snapshots")
    snapshots.save(PROJECT_MASTER.name, master_table(previous))
    pq.write_table(master_table(current), tmp_path / "dump.parquet")
    return tmp_path / "dump.parquet", snapshots


def _plan(dump: Path, snapshots: Snapshots) -> Plan:
    previous = snapshots.open(PROJECT_MASTER.name, PROJECT_MASTER.key, dictionaries=PROJECT_MASTER.categorical)
    return plan(dump, PROJECT_MASTER, previous, batch_rows=64)


def test_the_plan_is_the_same_from_either_pool_and_the_default_pool_is_put_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dump, snapshots = _files(tmp_path)
    before = pa.default_memory_pool()
    switched = _outcome(_plan(dump, snapshots))
    assert pa.default_memory_pool().backend_name == before.backend_name

    monkeypatch.setattr(memory, "_jemalloc", lambda: None)  # the default pool throughout
    kept = _outcome(_plan(dump, snapshots))
    assert switched == kept
    assert kept[0] and kept[1] and kept[2] and kept[3]  # new, removed, bad and changed rows all there


def test_overlapping_ingestions_put_the_default_pool_back_only_when_the_last_ends() -> None:
    before = pa.default_memory_pool().backend_name
    inside: list[str] = []
    first_in, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with ingestion_pool():
            first_in.set()
            second_done.wait(10)
            inside.append(pa.default_memory_pool().backend_name)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with ingestion_pool():
        inside.append(pa.default_memory_pool().backend_name)
    second_done.set()
    thread.join(10)

    assert pa.default_memory_pool().backend_name == before
    if "jemalloc" in pa.supported_memory_backends() and not memory._capped():
        assert inside == ["jemalloc", "jemalloc"]  # the first still inside when the second left


def test_under_an_address_space_cap_the_default_pool_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_capped", lambda: True)
    before = pa.default_memory_pool().backend_name
    with ingestion_pool():
        assert pa.default_memory_pool().backend_name == before
