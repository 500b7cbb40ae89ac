"""Edges of the contract found in review: all-null extra columns, carried
rows whose extra columns changed type, timestamps outside what can be stored,
and the order of effects when bad rows are reprocessed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from common.domain.models import CatalogItem
from common.service.bootstrap import Deps
from common.service.handlers.datasets import ingest_dataset_file, reprocess_dataset_rows
from tests.ingest.conftest import all_projects, master_table, project_row

Write = Callable[[str, pa.Table], Path]


def test_an_all_null_extra_column_reingested_is_unchanged(deps: Deps, write: Write) -> None:
    table = master_table([project_row(1), project_row(2)]).append_column("note", pa.nulls(2))
    path = write("nulls.parquet", table)
    ingest_dataset_file(deps, "master", path)

    again = ingest_dataset_file(deps, "master", path)

    assert again.status == "succeeded"
    assert (again.counts["unchanged"], again.counts["changed"]) == (2, 0)


def test_a_kept_row_whose_extra_column_changed_type_does_not_break_the_snapshot(deps: Deps, write: Write) -> None:
    ingest_dataset_file(deps, "master", write("a.parquet", master_table(
        [project_row(1), project_row(2)]).append_column("floor", pa.array([1, 2]))))
    # Project 1's row is bad now (kept from the previous dump), and `floor` became a string.
    job = ingest_dataset_file(deps, "master", write("b.parquet", master_table(
        [project_row(1, national_priority=9), project_row(2)]).append_column("floor", pa.array(["1", "2b"]))))

    assert job.status == "succeeded"
    assert (job.counts["carried"], job.counts["changed"], job.counts["quarantined"]) == (1, 1, 1)
    again = ingest_dataset_file(deps, "master", write("c.parquet", master_table(
        [project_row(1), project_row(2)]).append_column("floor", pa.array(["1", "2b"]))))
    assert again.status == "succeeded"
    assert (again.counts["quarantined"], again.counts["new"], again.counts["removed"]) == (0, 0, 0)
    assert set(all_projects(deps)) == {"PRJ-0000001", "PRJ-0000002"}


@pytest.mark.parametrize("values", [
    pa.array([10**17, int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)], pa.timestamp("ms")),
    pa.array([2**31 - 1, 20_000], pa.date32()),
    pa.array([300_000_000_000_000, int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)],
             pa.timestamp("ms", tz="UTC")),  # year ~11,000: a timestamp, but not a date anyone can store
], ids=["microseconds-overflow", "date-overflow", "after-year-9999"])
def test_a_timestamp_outside_the_storable_range_is_a_bad_row(deps: Deps, write: Write, values: pa.Array) -> None:
    table = master_table([project_row(1), project_row(2)])
    table = table.set_column(table.schema.get_field_index("updated_at"), "updated_at", values)

    job = ingest_dataset_file(deps, "master", write("far.parquet", table))

    assert job.status == "succeeded"
    assert (job.counts["new"], job.counts["quarantined"]) == (1, 1)
    [record] = deps.store.list_quarantine().items
    assert [(r.loc, r.type) for r in record.reasons] == [(["row", 0, "updated_at"], "out_of_range")]
    assert set(all_projects(deps)) == {"PRJ-0000002"}


def test_a_crash_while_reprocessed_rows_are_written_leaves_the_record_open(deps: Deps, write: Write,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert deps.inventory is not None
    deps.store.put_catalog([CatalogItem(sku="ANT-1")])
    ingest_dataset_file(deps, "master", write("m.parquet", master_table([project_row(1)])))  # WH-EAST
    stock = pa.table({"warehouse_id": ["WH-EAST"], "sku": ["NEW-1"], "on_hand": [6],
                      "as_of": pa.array([datetime(2026, 11, 20, tzinfo=UTC)], pa.timestamp("ms", tz="UTC"))})
    ingest_dataset_file(deps, "stock", write("s.parquet", stock))
    [record] = deps.store.list_quarantine().items
    deps.store.put_catalog([CatalogItem(sku="NEW-1")])

    def crash(*_: object) -> None:
        raise ConnectionError("store went away")

    with monkeypatch.context() as patched:
        patched.setattr(deps.inventory, "set_on_hand", crash)
        with pytest.raises(ConnectionError):
            reprocess_dataset_rows(deps, record.id)
    assert deps.store.get_quarantine(record.id).status == "open"  # type: ignore[union-attr]

    job = reprocess_dataset_rows(deps, record.id)

    assert job.counts["new"] == 1
    assert deps.store.get_quarantine(record.id).status == "reprocessed"  # type: ignore[union-attr]
    assert {(s.warehouse_id, s.sku): s.on_hand for s in deps.inventory.stock()} == {("WH-EAST", "NEW-1"): 6}
