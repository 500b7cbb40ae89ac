"""`oms ingest reorder-policy`, `oms replenishment list|evaluate` and `oms
allocate --what-if FILE`, through the installed console script."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.domain.models import Reservation
from common.service.bootstrap import Deps
from tests.conftest import SAMPLES
from tests.helpers.allocation import approved
from tests.helpers.cli import oms
from tests.helpers.sqlite import sqlite_deps, sqlite_settings

ANT = "ANT-4T4R-B41"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for dataset, name in (("master", "project-master.jsonl"), ("catalog", "item-catalog.jsonl")):
        done = oms(tmp_path, "ingest", dataset, str(SAMPLES / name))
        assert done.returncode == 0, done.stderr
    stock = tmp_path / "stock.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"warehouse_id": "WH-EAST", "sku": sku, "on_hand": qty, "as_of": datetime(2026, 11, 20, tzinfo=UTC)}
        for sku, qty in ((ANT, 2), ("RRU-B41-160W", 20), ("CBL-HYB-30M", 20))]), stock)
    assert oms(tmp_path, "ingest", "stock", str(stock)).returncode == 0
    return tmp_path


def world(workdir: Path) -> Deps:
    """The CLI's store, opened here to set up what no command makes (an Approved order)."""
    return sqlite_deps(sqlite_settings(workdir))


def dump(workdir: Path) -> list[str]:
    with sqlite3.connect(workdir / "oms.db") as db:
        return list(db.iterdump())


def test_a_reorder_policy_file_opens_a_request_and_the_list_shows_it(workdir: Path) -> None:
    policy = workdir / "policy.jsonl"
    policy.write_text(json.dumps({"warehouse_id": "WH-EAST", "sku": ANT, "reorder_point": 10, "target_level": 30,
                                  "lead_time_days": 7}) + "\n")

    loaded = oms(workdir, "ingest", "reorder-policy", str(policy))
    listing = oms(workdir, "replenishment", "list", "--json")
    table = oms(workdir, "replenishment", "list")

    assert loaded.returncode == 0, loaded.stderr
    assert listing.returncode == 0, listing.stderr
    [item] = json.loads(listing.stdout)["items"]
    assert (item["sku"], item["quantity"], item["status"], item["would_unblock"]) == (ANT, 28, "open", [])
    assert "@stock:WH-EAST~ANT-4T4R-B41~1" in table.stdout and "28" in table.stdout
    again = oms(workdir, "replenishment", "evaluate")
    assert again.returncode == 0 and "opened 0" in again.stdout


def test_a_reorder_policy_parquet_with_a_bad_row_loads_the_good_ones(workdir: Path) -> None:
    path = workdir / "policy.parquet"
    pq.write_table(pa.Table.from_pylist([
        {"warehouse_id": "WH-EAST", "sku": ANT, "reorder_point": 10, "target_level": 30, "lead_time_days": 7},
        {"warehouse_id": "WH-EAST", "sku": "RRU-B41-160W", "reorder_point": 10, "target_level": 3,
         "lead_time_days": 7}]), path)

    done = oms(workdir, "ingest", "reorder-policy", str(path))

    assert done.returncode == 0, done.stderr
    assert [p.sku for p in world(workdir).store.reorder_policies()] == [ANT]


def test_allocate_what_if_shows_what_extra_stock_would_allocate_and_writes_nothing(workdir: Path) -> None:
    deps = world(workdir)
    order = approved(deps, "PRJ-0000101", {ANT: 3})
    what = workdir / "delivery.json"
    what.write_text(json.dumps({"extra_stock": [{"warehouse_id": "WH-EAST", "sku": ANT, "qty": 5}]}))
    before = dump(workdir)

    shown = oms(workdir, "allocate", "--what-if", str(what))
    as_json = oms(workdir, "allocate", "--what-if", str(what), "--json", "--mode", "optimal")

    assert shown.returncode == 0, shown.stderr
    assert f"moved in  (1): {order.order_id}" in shown.stdout and "nothing written" in shown.stdout
    report = json.loads(as_json.stdout)
    assert report["plan"]["allocated"] == [order.order_id] and report["mode"] == "optimal"
    assert dump(workdir) == before


def test_a_what_if_file_that_is_wrong_is_refused_with_one_line(workdir: Path) -> None:
    deps = world(workdir)
    deps.inventory.reserve(Reservation(order_id="PRJ-0000101~X~NewBuild~9", warehouse_id="WH-EAST",
                                       lines={"RRU-B41-160W": 1}, at=datetime(2026, 11, 20, tzinfo=UTC)))
    broken, typo, unknown = workdir / "broken.json", workdir / "typo.json", workdir / "unknown.json"
    broken.write_text("{not json")
    typo.write_text(json.dumps({"extra_stok": []}))
    unknown.write_text(json.dumps({"force_approved": ["PRJ-0000101~NYC-00417~NewBuild~7"]}))
    before = dump(workdir)

    results = {name: oms(workdir, "allocate", "--what-if", str(path))
               for name, path in (("broken", broken), ("typo", typo), ("unknown", unknown),
                                  ("missing", workdir / "nope.json"))}
    both = oms(workdir, "allocate", "--what-if", str(typo), "--dry-run")

    assert {name: r.returncode for name, r in results.items()} == {"broken": 2, "typo": 2, "unknown": 1, "missing": 2}
    assert "typo.json is not a what-if: extra_stok" in results["typo"].stderr
    assert "force_approved.0: order PRJ-0000101~NYC-00417~NewBuild~7 does not exist" in results["unknown"].stderr
    assert both.returncode == 2 and "--dry-run and --wait do not apply" in both.stderr
    for result in (*results.values(), both):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert dump(workdir) == before
