"""Item catalogue and stock snapshots: references, on-hand through the
inventory port, removed items."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from common.domain.models import CatalogItem
from common.service.bootstrap import Deps
from common.service.handlers.datasets import ingest_dataset_file
from tests.ingest.conftest import master_table, project_row

Write = Callable[[str, pa.Table], Path]
AS_OF = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def catalog_table(rows: list[tuple[str, bool]]) -> pa.Table:
    return pa.table({"sku": [s for s, _ in rows], "description": [f"item {s}" for s, _ in rows],
                     "uom": ["EA"] * len(rows), "active": [a for _, a in rows]})


def stock_table(rows: list[tuple[str, str, Any]], as_of: datetime = AS_OF) -> pa.Table:
    return pa.table({"warehouse_id": [w for w, _, _ in rows], "sku": [s for _, s, _ in rows],
                     "on_hand": pa.array([n for _, _, n in rows], pa.int32()),
                     "as_of": pa.array([as_of] * len(rows), pa.timestamp("ms", tz="UTC"))})


def test_catalogue_rows_become_items_and_a_vanished_item_turns_inactive(deps: Deps, write: Write) -> None:
    # 30 items, so the two this dump deactivates stay under OMS_INGEST_MAX_REMOVE_SHARE (10 %).
    others = [(f"S{n:02d}", True) for n in range(28)]
    first = ingest_dataset_file(deps, "catalog", write("a.parquet", catalog_table([("A", True), ("B", True),
                                                                                    *others])))
    assert first.counts["new"] == 30
    assert deps.store.get_catalog(["A"])["A"] == CatalogItem(sku="A", description="item A", uom="EA", active=True)

    second = ingest_dataset_file(deps, "catalog", write("b.parquet", catalog_table([("A", False), *others])))

    assert (second.counts["changed"], second.counts["removed"]) == (1, 1)
    items = deps.store.get_catalog(["A", "B"])
    assert items["A"].active is False and items["B"].active is False


@pytest.fixture
def references(deps: Deps, write: Write) -> Deps:
    deps.store.put_catalog([CatalogItem(sku="ANT-1"), CatalogItem(sku="RRU-1")])
    ingest_dataset_file(deps, "master", write("master.parquet", master_table([project_row(1)])))  # WH-EAST
    return deps


def test_stock_rows_set_on_hand_and_unknown_skus_and_warehouses_are_quarantined(references: Deps,
                                                                                write: Write) -> None:
    deps = references
    assert deps.inventory is not None
    rows = [("WH-EAST", "ANT-1", 10), ("WH-EAST", "XYZ-9", 5), ("WH-MARS", "ANT-1", 1), ("WH-EAST", "RRU-1", -1),
            ("WH-EAST", "RRU-1", 4)]
    job = ingest_dataset_file(deps, "stock", write("stock.parquet", stock_table(rows)))

    assert (job.counts["new"], job.counts["quarantined"]) == (1, 4)
    [record] = deps.store.list_quarantine().items
    assert [(r.loc, r.type) for r in record.reasons] == [
        (["row", 1, "sku"], "unknown_reference"),
        (["row", 2, "warehouse_id"], "unknown_reference"),
        (["row", 3, "on_hand"], "out_of_range"),
        (["row", 3, "warehouse_id+sku"], "duplicate_key"),
        (["row", 4, "warehouse_id+sku"], "duplicate_key"),
    ]
    assert record.reasons[0].msg == "WH-EAST|XYZ-9: sku XYZ-9 is not in the item catalogue"
    stock = {(s.warehouse_id, s.sku): s.on_hand for s in deps.inventory.stock()}
    assert stock == {("WH-EAST", "ANT-1"): 10}


def test_warehouses_from_settings_are_known_too(references: Deps, write: Write) -> None:
    deps = references
    deps.settings = deps.settings.model_copy(update={"warehouses": ["WH-MARS"]})
    job = ingest_dataset_file(deps, "stock", write("s.parquet", stock_table([("WH-MARS", "ANT-1", 2)])))
    assert job.counts["new"] == 1 and job.counts["quarantined"] == 0


def test_a_later_snapshot_writes_only_changed_rows_and_replays_change_nothing(references: Deps,
                                                                             write: Write) -> None:
    deps = references
    assert deps.inventory is not None
    ingest_dataset_file(deps, "stock", write("s1.parquet", stock_table([("WH-EAST", "ANT-1", 10),
                                                                        ("WH-EAST", "RRU-1", 3)])))
    later = stock_table([("WH-EAST", "ANT-1", 7), ("WH-EAST", "RRU-1", 3)])
    path = write("s2.parquet", later)
    job = ingest_dataset_file(deps, "stock", path)
    assert (job.counts["changed"], job.counts["unchanged"]) == (1, 1)
    assert job.details["changed_columns"] == {"on_hand": 1}

    again = ingest_dataset_file(deps, "stock", path)
    assert (again.counts["changed"], again.counts["unchanged"], again.counts["new"]) == (0, 2, 0)
    stock = {(s.warehouse_id, s.sku): s.on_hand for s in deps.inventory.stock()}
    assert stock == {("WH-EAST", "ANT-1"): 7, ("WH-EAST", "RRU-1"): 3}


def test_stock_rows_quarantined_for_an_unknown_sku_load_on_reprocess_once_the_sku_exists(references: Deps,
                                                                                          write: Write) -> None:
    from common.service.handlers.datasets import reprocess_dataset_rows

    deps = references
    assert deps.inventory is not None
    ingest_dataset_file(deps, "stock", write("s.parquet", stock_table([("WH-EAST", "ANT-1", 4),
                                                                       ("WH-EAST", "NEW-1", 6)])))
    [record] = deps.store.list_quarantine().items
    still = reprocess_dataset_rows(deps, record.id)
    assert still.counts["quarantined"] == 1
    assert deps.store.get_quarantine(record.id).status == "open"  # type: ignore[union-attr]

    deps.store.put_catalog([CatalogItem(sku="NEW-1")])
    job = reprocess_dataset_rows(deps, record.id)

    assert (job.counts["new"], job.counts["quarantined"], job.counts["removed"]) == (1, 0, 0)
    assert deps.store.get_quarantine(record.id).status == "reprocessed"  # type: ignore[union-attr]
    stock = {(s.warehouse_id, s.sku): s.on_hand for s in deps.inventory.stock()}
    assert stock == {("WH-EAST", "ANT-1"): 4, ("WH-EAST", "NEW-1"): 6}
    # The snapshot gained the row and lost nothing: the next full snapshot sees both as unchanged.
    again = ingest_dataset_file(deps, "stock", write("s2.parquet", stock_table([("WH-EAST", "ANT-1", 4),
                                                                                ("WH-EAST", "NEW-1", 6)])))
    assert (again.counts["unchanged"], again.counts["new"]) == (2, 0)


def test_a_reprocessed_row_older_than_the_snapshot_is_left_out_as_stale(references: Deps, write: Write) -> None:
    from common.service.handlers.datasets import reprocess_dataset_rows

    deps = references
    assert deps.inventory is not None
    ingest_dataset_file(deps, "stock", write("s1.parquet", stock_table([("WH-EAST", "NEW-1", 6)])))
    [record] = deps.store.list_quarantine().items
    deps.store.put_catalog([CatalogItem(sku="NEW-1")])
    later = datetime(2026, 11, 21, tzinfo=UTC)
    ingest_dataset_file(deps, "stock", write("s2.parquet", stock_table([("WH-EAST", "NEW-1", 9)], later)))

    job = reprocess_dataset_rows(deps, record.id)

    assert (job.counts["skipped_stale"], job.counts["new"], job.counts["changed"]) == (1, 0, 0)
    stock = {(s.warehouse_id, s.sku): s.on_hand for s in deps.inventory.stock()}
    assert stock == {("WH-EAST", "NEW-1"): 9}


def test_rows_of_a_snapshot_older_than_the_stored_counts_are_skipped_as_stale_not_changed(references: Deps,
                                                                                         write: Write) -> None:
    deps = references
    assert deps.inventory is not None
    ingest_dataset_file(deps, "stock", write("s1.parquet", stock_table([("WH-EAST", "ANT-1", 10)])))
    older = datetime(2026, 11, 2, tzinfo=UTC)

    job = ingest_dataset_file(deps, "stock", write("s0.parquet", stock_table([("WH-EAST", "ANT-1", 3),
                                                                              ("WH-EAST", "RRU-1", 5)], older)))

    assert (job.counts["new"], job.counts["changed"], job.counts["created"], job.counts["modified"]) == (1, 0, 1, 0)
    assert (job.counts["skipped_stale"], job.counts["skipped"]) == (1, 1)
    stock = {(s.warehouse_id, s.sku): s.on_hand for s in deps.inventory.stock()}
    assert stock == {("WH-EAST", "ANT-1"): 10, ("WH-EAST", "RRU-1"): 5}


def test_stock_rows_older_than_the_store_holds_are_skipped_even_when_the_snapshot_file_does_not_know_them(
        references: Deps, write: Write) -> None:
    # The store is what decides: its counts may come from another data folder's snapshot or from an older build.
    deps = references
    assert deps.inventory is not None
    deps.inventory.set_on_hand([("WH-EAST", "ANT-1", 12), ("WH-EAST", "RRU-1", 6)], AS_OF)
    older = datetime(2026, 11, 2, tzinfo=UTC)

    job = ingest_dataset_file(deps, "stock", write("sim.parquet", stock_table([("WH-EAST", "ANT-1", 3),
                                                                               ("WH-EAST", "RRU-1", 5)], older)))

    assert (job.counts["new"], job.counts["created"], job.counts["skipped_stale"], job.counts["skipped"]) \
        == (0, 0, 2, 2)
    assert job.status == "succeeded"
    stock = {(s.warehouse_id, s.sku): s.on_hand for s in deps.inventory.stock()}
    assert stock == {("WH-EAST", "ANT-1"): 12, ("WH-EAST", "RRU-1"): 6}
