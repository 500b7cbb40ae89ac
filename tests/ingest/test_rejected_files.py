"""Files that cannot be taken are quarantined whole, with a precise reason,
and change nothing: no store write, no snapshot update."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.ingest.schema import PROJECT_MASTER
from common.service.bootstrap import Deps, set_deps
from common.service.handlers.datasets import ingest_dataset_file, snapshots_of
from tests.ingest.conftest import all_projects, master_table, project_row


def _bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _good() -> pa.Table:
    return master_table([project_row(n, market="Boston") for n in range(1, 50)])


def _garbled_footer() -> bytes:
    data = bytearray(_bytes(_good()))
    rng = random.Random(4)
    for i in range(len(data) - 8 - 120, len(data) - 8):
        data[i] = rng.randrange(256)
    return bytes(data)


def _without(column: str) -> bytes:
    return _bytes(_good().drop_columns([column]))


def _retyped(column: str, values: pa.Array) -> bytes:
    table = _good()
    return _bytes(table.set_column(table.schema.get_field_index(column), column, values))


CASES: dict[str, tuple[Callable[[], bytes], str, str]] = {
    "not parquet": (lambda: b"project_id,site_code\nPRJ-1,NYC-1\n", "not_parquet", "not a Parquet file"),
    "truncated": (lambda: _bytes(_good())[: len(_bytes(_good())) // 2], "truncated_file", "footer is missing"),
    "empty": (lambda: b"", "empty_file", "0 bytes"),
    "no rows": (lambda: _bytes(_good().slice(0, 0)), "empty_file", "no rows"),
    "corrupt footer": (_garbled_footer, "corrupt_file", "corrupt"),
    "missing column": (lambda: _without("milestone"), "missing_column", "required column milestone"),
    "string priority": (lambda: _retyped("national_priority", pa.array(["2"] * 49)), "wrong_type",
                        "column national_priority is string; an integer (any width) is required"),
    "string latitude": (lambda: _retyped("latitude", pa.array(["40.7"] * 49)), "wrong_type",
                        "column latitude is string"),
    "numeric gated": (lambda: _retyped("gated", pa.array([0] * 49)), "wrong_type", "column gated is int64"),
    "string timestamp": (lambda: _retyped("updated_at", pa.array(["2026-11-01"] * 49)), "wrong_type",
                         "column updated_at is string"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unusable_file_is_quarantined_whole_and_changes_nothing(deps: Deps, tmp_path: Path, case: str) -> None:
    first = tmp_path / "first.parquet"
    pq.write_table(master_table([project_row(n) for n in range(1, 30)]), first)
    assert not ingest_dataset_file(deps, "master", first).details["rejected"]
    before_projects = all_projects(deps)
    before_snapshot = snapshots_of(deps).load(PROJECT_MASTER.name)
    make, kind, words = CASES[case]
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(make())

    job = ingest_dataset_file(deps, "master", bad)

    assert job.details["rejected"] is True
    assert job.counts["rejected"] == 1
    records = deps.store.list_quarantine().items
    assert len(records) == 1
    assert records[0].source == "project-master"
    assert records[0].payload["whole_file"] is True
    assert [r.type for r in records[0].reasons] == [kind]
    assert words in records[0].reasons[0].msg
    assert all_projects(deps) == before_projects
    after = snapshots_of(deps).load(PROJECT_MASTER.name)
    assert after is not None and before_snapshot is not None and after.equals(before_snapshot)


def test_the_same_rejected_file_again_is_the_same_quarantine_record(deps: Deps, tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    ingest_dataset_file(deps, "master", bad)
    ingest_dataset_file(deps, "master", bad)
    records = deps.store.list_quarantine().items
    assert len(records) == 1 and records[0].attempts == 2


def test_cli_exits_1_for_a_rejected_file_and_0_for_a_good_one(deps: Deps, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from common.cli import main

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"")
    good = tmp_path / "good.parquet"
    pq.write_table(master_table([project_row(1)]), good)
    set_deps(deps)
    try:
        with pytest.raises(SystemExit) as rejected:
            main(["ingest", "master", str(bad)])
        assert "rejected (quarantined whole): the file is empty (0 bytes)" in capsys.readouterr().err
        try:
            main(["ingest", "master", str(good)])
        except SystemExit as loaded:  # click may exit 0 or just return
            assert loaded.code in (0, None)
    finally:
        set_deps(None)
    assert rejected.value.code == 1


def test_a_whole_file_rejection_cannot_be_reprocessed_from_quarantine(deps: Deps, tmp_path: Path) -> None:
    from common.service.handlers.datasets import NotReprocessable, reprocess_dataset_rows

    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"")
    ingest_dataset_file(deps, "master", bad)
    [record] = deps.store.list_quarantine().items
    with pytest.raises(NotReprocessable, match="does not hold dataset rows"):
        reprocess_dataset_rows(deps, record.id)
