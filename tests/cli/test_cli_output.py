"""What `oms` prints, read the way people and scripts read it: piped at 80
columns, ids are whole and each row is one line; a reason is one line
whatever the width; a title says what really happened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from common.adapters.sqlite import SqliteStore
from common.domain.models import Order, QuarantineRecord
from common.ports import OrderQuery
from tests.conftest import SAMPLES
from tests.helpers.cli import oms


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The samples loaded through the CLI, once for the module's reads."""
    workdir = tmp_path_factory.mktemp("sampled")
    for dataset, name in (("master", "project-master.jsonl"), ("catalog", "item-catalog.jsonl"),
                          ("events", "engineering-events.jsonl")):
        assert oms(workdir, "ingest", dataset, str(SAMPLES / name)).returncode == 0
    return workdir


def _stored(workdir: Path) -> tuple[list[Order], list[QuarantineRecord]]:
    store = SqliteStore(workdir / "oms.db")
    try:
        return store.query_orders(OrderQuery(limit=100)).items, store.list_quarantine("open", 100).items
    finally:
        store.close()


def test_piped_at_80_columns_every_order_id_is_whole_and_each_order_one_line(sampled: Path) -> None:
    ids = [o.order_id for o in _stored(sampled)[0]]
    assert ids

    table = oms(sampled, "orders", columns=80).stdout

    for order_id in ids:
        assert sum(order_id in line for line in table.splitlines()) == 1, (order_id, table)


def test_piped_at_80_columns_each_quarantine_reason_is_one_whole_line(sampled: Path) -> None:
    records = _stored(sampled)[1]
    reasons = [r.msg for record in records for r in record.reasons]
    assert reasons

    table = oms(sampled, "quarantine", "list", columns=80).stdout

    lines = table.splitlines()
    for reason in reasons:
        assert any(reason in line for line in lines), (reason, table)
    for record in records:
        assert any(record.id in line for line in lines)


def test_a_file_that_is_not_parquet_is_titled_rejected_with_a_one_line_reason_at_any_width(tmp_path: Path) -> None:
    not_parquet = tmp_path / "master.parquet"
    shutil.copy(SAMPLES / "project-master.jsonl", not_parquet)

    done = oms(tmp_path, "ingest", "master", str(not_parquet), columns=50)

    assert done.returncode == 1
    assert ": rejected" in done.stdout and "succeeded" not in done.stdout
    reasons = [line for line in done.stderr.splitlines() if line.startswith("oms: ")]
    assert len(reasons) == 1 and "rejected (quarantined whole): not a Parquet file" in reasons[0]
    assert "Parquet magic bytes" in reasons[0]  # the whole reason, not cut where the console ended


def test_ingest_json_reports_the_rejected_job_as_json(tmp_path: Path) -> None:
    bad = tmp_path / "stock.parquet"
    bad.write_bytes(b"PAR1 but not really")

    done = oms(tmp_path, "ingest", "stock", str(bad), "--json")

    assert done.returncode == 1
    job = json.loads(done.stdout)
    assert job["status"] == "rejected" and job["details"]["rejected"] is True


def test_a_master_fixture_that_is_not_json_is_exit_1_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "master.jsonl"
    bad.write_text("project_id,site_code\nPRJ-1,NYC-1\n")

    done = oms(tmp_path, "ingest", "master", str(bad))

    assert done.returncode == 1
    reasons = [line for line in done.stderr.splitlines() if line.startswith("oms: ")]
    assert len(reasons) == 1 and reasons[0].startswith("oms: master.jsonl is neither JSON lines nor a JSON array: ")
