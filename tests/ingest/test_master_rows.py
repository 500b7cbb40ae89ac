"""Project master rows: type rules, row-level quarantine, re-ingest,
removed projects, and parked designs released by a later dump."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from common.domain.models import CatalogItem, OrderStatus
from common.ingest.schema import PROJECT_MASTER
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.datasets import ingest_dataset_file, snapshots_of
from common.service.handlers.engineering import ingest_engineering_events
from tests.ingest.conftest import AT, all_projects, master_table, project_row

Write = Callable[[str, pa.Table], Path]


def test_any_integer_width_any_timestamp_unit_and_dictionaries_are_accepted(deps: Deps, write: Write) -> None:
    rows = [project_row(1, national_priority=1), project_row(2, national_priority=5)]
    variants = {
        "int8 priority, seconds, naive": {"national_priority": pa.int8(), "updated_at": pa.timestamp("s")},
        "uint16 priority, ns, New York": {"national_priority": pa.uint16(),
                                          "updated_at": pa.timestamp("ns", tz="America/New_York")},
        "whole floats": {"national_priority": pa.float64(), "updated_at": pa.timestamp("ms", tz="UTC")},
    }
    for label, types in variants.items():
        table = master_table(rows, types)
        table = table.set_column(table.schema.get_field_index("market"), "market",
                                 table["market"].dictionary_encode())
        job = ingest_dataset_file(deps, "master", write(f"{label}.parquet", table))
        assert job.counts["quarantined"] == 0 and not job.details["rejected"], label
        stored = all_projects(deps)
        assert stored["PRJ-0000001"].national_priority == 1
        assert stored["PRJ-0000002"].updated_at == AT  # naive = UTC; zones convert
    # The same values in other types are the same rows: nothing changed after the first.
    assert job.counts["unchanged"] == 2


def test_every_bad_row_is_listed_in_one_record_and_the_good_rows_load(deps: Deps, write: Write) -> None:
    rows = [
        project_row(1),
        project_row(2, project_id=None),
        project_row(3, market=None),
        project_row(4, national_priority=7),
        project_row(5, latitude=95.0, longitude=-200.0),
        project_row(6),
        project_row(6, milestone="Initiated"),
        project_row(7),
    ]
    job = ingest_dataset_file(deps, "master", write("rows.parquet", master_table(rows)))

    assert (job.counts["rows_read"], job.counts["new"], job.counts["quarantined"]) == (8, 2, 6)
    assert set(all_projects(deps)) == {"PRJ-0000001", "PRJ-0000007"}
    [record] = deps.store.list_quarantine().items
    got = [(r.loc, r.type) for r in record.reasons]
    assert got == [
        (["row", 1, "project_id"], "missing"),
        (["row", 2, "market"], "missing"),
        (["row", 3, "national_priority"], "out_of_range"),
        (["row", 4, "latitude"], "out_of_range"),
        (["row", 4, "longitude"], "out_of_range"),
        (["row", 5, "project_id"], "duplicate_key"),
        (["row", 6, "project_id"], "duplicate_key"),
    ]
    assert "PRJ-0000004: national_priority 7 is outside 1..5" in record.reasons[2].msg
    assert [r["row"] for r in record.payload["rows"]] == [1, 2, 3, 4, 5, 6]
    assert record.payload["rows"][2]["values"]["national_priority"] == 7
    kept = pq.read_table(Path(deps.settings.data_dir) / record.payload["kept_at"])
    assert kept.num_rows == 6


def test_a_fraction_where_an_integer_is_required_is_a_bad_row(deps: Deps, write: Write) -> None:
    table = master_table([project_row(1), project_row(2, national_priority=2.5)],
                         {"national_priority": pa.float64()})
    job = ingest_dataset_file(deps, "master", write("f.parquet", table))
    [record] = deps.store.list_quarantine().items
    assert job.counts["quarantined"] == 1
    assert [(r.loc, r.type) for r in record.reasons] == [(["row", 1, "national_priority"], "int_parsing")]


def test_reingesting_the_same_dump_changes_nothing(deps: Deps, write: Write) -> None:
    rows = [project_row(n, national_priority=n % 5 + 1) for n in range(1, 40)] + [project_row(3)]
    path = write("same.parquet", master_table(rows))
    first = ingest_dataset_file(deps, "master", path)
    projects = all_projects(deps)
    snapshot = snapshots_of(deps).load(PROJECT_MASTER.name)

    again = ingest_dataset_file(deps, "master", path)

    assert first.counts["new"] == 38
    assert {k: again.counts[k] for k in ("new", "changed", "removed", "unchanged")} == {
        "new": 0, "changed": 0, "removed": 0, "unchanged": 38}
    assert again.counts["quarantined"] == 2  # the duplicated key, reported again
    assert all_projects(deps) == projects
    after = snapshots_of(deps).load(PROJECT_MASTER.name)
    assert after is not None and snapshot is not None and after.equals(snapshot)
    [record] = deps.store.list_quarantine().items
    assert record.attempts == 2


def test_a_removed_project_is_flagged_and_comes_back_when_it_reappears(deps: Deps, write: Write) -> None:
    # 20 projects, so the one this dump removes stays under OMS_INGEST_MAX_REMOVE_SHARE (10 %).
    rest = [project_row(n) for n in range(3, 21)]
    ingest_dataset_file(deps, "master", write("a.parquet", master_table([project_row(1), project_row(2), *rest])))
    gone = ingest_dataset_file(deps, "master", write("b.parquet", master_table([project_row(1), *rest])))
    assert gone.counts["removed"] == 1 and gone.details["removed_keys"] == ["PRJ-0000002"]
    assert all_projects(deps)["PRJ-0000002"].removed is True

    back = ingest_dataset_file(deps, "master", write("c.parquet", master_table([project_row(1), project_row(2),
                                                                                   *rest])))
    assert back.counts["new"] == 1
    assert all_projects(deps)["PRJ-0000002"].removed is False


def test_changed_columns_are_counted_and_extra_columns_kept(deps: Deps, write: Write) -> None:
    ingest_dataset_file(deps, "master", write("a.parquet", master_table([project_row(1, owner="Acme")])))
    job = ingest_dataset_file(deps, "master", write("b.parquet", master_table(
        [project_row(1, owner="Crown", gated=True)])))
    assert job.counts["changed"] == 1
    assert job.details["changed_columns"] == {"gated": 1, "owner": 1}
    stored = all_projects(deps)["PRJ-0000001"]
    assert stored.gated is True and stored.model_extra == {"owner": "Crown"}


def _design(event_id: str, project_id: str) -> dict[str, object]:
    return {"event_id": event_id, "event_type": "DesignApproved", "occurred_at": "2026-11-20T08:00:00Z",
            "project_id": project_id, "site_code": "NYC-00001", "order_type": "NewBuild", "design_version": 1,
            "items": [{"sku": "ANT-1", "qty": 3, "uom": "EA"}]}


def test_a_parked_design_becomes_a_draft_order_when_a_later_dump_qualifies_the_project(
        deps: Deps, write: Write) -> None:
    deps.store.put_catalog([CatalogItem(sku="ANT-1", description="antenna")])
    ingest_dataset_file(deps, "master", write("a.parquet", master_table([project_row(1, milestone="Initiated")])))
    report = ingest_engineering_events(deps, IngestEngineeringEvents([_design("e1", "PRJ-0000001")]))
    assert [r.outcome.value for r in report.results] == ["parked"]
    assert deps.store.query_orders(OrderQuery(project_id="PRJ-0000001")).items == []

    job = ingest_dataset_file(deps, "master", write("b.parquet", master_table(
        [project_row(1, milestone="ConceptApproved", updated_at=datetime(2026, 11, 2, tzinfo=UTC))])))

    assert job.counts["changed"] == 1 and job.counts["parked_applied"] == 1
    [order] = deps.store.query_orders(OrderQuery(project_id="PRJ-0000001")).items
    assert order.status is OrderStatus.DRAFT
    assert [(line.sku, line.qty) for line in order.lines] == [("ANT-1", 3)]
