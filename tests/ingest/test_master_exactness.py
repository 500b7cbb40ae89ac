"""The generated dump against its previous snapshot: every planted change is
found, nothing else, and only what changed is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from common.ingest.pipeline import plan
from common.ingest.schema import PROJECT_MASTER
from common.ingest.synthetic import generate_master
from common.service.bootstrap import Deps
from common.service.handlers.datasets import ingest_dataset_file, snapshots_of
from tests.ingest.conftest import all_projects

ROWS = 20_000


@pytest.mark.parametrize("shuffle", [False, True])
def test_delta_finds_exactly_the_planted_changes_and_their_columns(write: Callable[[str, pa.Table], Path],
                                                                    shuffle: bool) -> None:
    planted = generate_master(ROWS, seed=11, shuffle=shuffle)
    path = write("master.parquet", planted.current)

    result = plan(path, PROJECT_MASTER, planted.previous)

    assert result.rows_read == ROWS
    assert set(result.delta.new["project_id"].to_pylist()) == planted.new_keys
    assert set(result.delta.removed["project_id"].to_pylist()) == planted.removed_keys  # type: ignore[index]
    assert {k: set(v) for k, v in result.delta.changed_columns().items()} == planted.changed
    assert result.delta.unchanged == planted.unchanged
    assert set(result.bad["__row"].to_pylist()) == planted.quarantined_rows
    assert {r.loc[1] for r in result.reasons} == planted.quarantined_rows


def test_generated_dump_writes_only_new_changed_and_removed_projects(deps: Deps,
                                                                     write: Callable[[str, pa.Table], Path]) -> None:
    planted = generate_master(ROWS, seed=3)
    snapshots_of(deps).save(PROJECT_MASTER.name, planted.previous)
    path = write("master.parquet", planted.current)

    job = ingest_dataset_file(deps, "master", path)

    counts = job.counts
    assert (counts["rows_read"], counts["new"], counts["changed"], counts["removed"], counts["quarantined"],
            counts["unchanged"]) == (ROWS, len(planted.new_keys), len(planted.changed), len(planted.removed_keys),
                                     len(planted.quarantined_rows), planted.unchanged)
    stored = all_projects(deps)
    # The store started empty: what is in it now is exactly what was written.
    assert set(stored) == planted.new_keys | set(planted.changed) | planted.removed_keys
    assert {k for k, p in stored.items() if p.removed} == planted.removed_keys
    records = deps.store.list_quarantine().items
    assert len(records) == 1
    assert {r.loc[1] for r in records[0].reasons} == planted.quarantined_rows
    assert {row["row"] for row in records[0].payload["rows"]} == planted.quarantined_rows
    assert job.details["changed_columns"]["updated_at"] == len(planted.changed)
    assert "duration_s" in job.details


def test_bad_rows_of_a_known_project_keep_its_previous_row(deps: Deps,
                                                            write: Callable[[str, pa.Table], Path]) -> None:
    planted = generate_master(2_000, seed=5)
    snapshots_of(deps).save(PROJECT_MASTER.name, planted.previous)
    ingest_dataset_file(deps, "master", write("one.parquet", planted.current))

    snapshot = snapshots_of(deps).load(PROJECT_MASTER.name)
    assert snapshot is not None
    bad_keys = set(planted.current.take(sorted(planted.quarantined_rows))["project_id"].to_pylist())
    kept = set(snapshot["project_id"].to_pylist())
    # Neither dropped (they would count as removed next time) nor duplicated.
    assert bad_keys <= kept
    assert snapshot.num_rows == len(kept)
    assert kept.isdisjoint(planted.removed_keys)
