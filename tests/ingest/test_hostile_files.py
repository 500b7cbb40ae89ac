"""Hostile master-data files: a few kilobytes that decode to millions of bad
rows, files past the row, size and memory caps, files with no valid row,
dumps that would wipe what is stored, and a file that kills the process in
the inbox. None may crash the service, wipe data or block the next start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from common.api.app import create_app
from common.api.deps import provide_deps
from common.ingest.limits import Limits
from common.ingest.pipeline import plan
from common.ingest.schema import PROJECT_MASTER, STOCK_SNAPSHOTS
from common.local.inbox import Inbox
from common.service.bootstrap import Deps, set_deps
from common.service.handlers.datasets import ingest_dataset_file, snapshots_of
from tests.ingest.conftest import AT, all_projects, master_table, project_row

ROOT = Path(__file__).resolve().parents[2]
Write = Callable[[str, pa.Table], Path]


def stock_bomb(path: Path, rows: int) -> Path:
    """`rows` identical invalid stock rows: unknown warehouse and SKU,
    negative on hand. Dictionary-encoded and zstd-compressed, 4M rows are
    about 65 KB on disk."""
    zeros = pa.array(np.zeros(rows, dtype=np.int32))
    pq.write_table(pa.table({
        "warehouse_id": pa.DictionaryArray.from_arrays(zeros, pa.array(["WH-NOPE"])),
        "sku": pa.DictionaryArray.from_arrays(zeros, pa.array(["NOT-A-SKU"])),
        "on_hand": pa.array(np.full(rows, -5, dtype=np.int64)),
        "as_of": pa.array(np.full(rows, 1_700_000_000_000_000, dtype=np.int64)).cast(pa.timestamp("us", tz="UTC")),
    }), path, compression="zstd")
    return path


# The child ingests one file on a fresh embedded store and reports its peak
# resident memory. Its address space is capped too, so code that does not
# bound its memory fails there with an allocation error instead of taking
# this machine down.
CHILD = textwrap.dedent("""
    import json, resource, sys, tempfile
    from pathlib import Path
    space = int(sys.argv[2]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (space, space))
    from common.adapters.sqlite import SqliteInventory, SqliteStore
    from common.config import Settings
    from common.service.bootstrap import build
    from common.service.handlers.datasets import ingest_dataset_file
    def peak_mb():
        # VmHWM: this process image's own peak (ru_maxrss carries the forking
        # parent's peak across exec on Linux).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    folder = tempfile.mkdtemp()
    settings = Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH=folder + "/oms.db", OMS_DATA_DIR=folder + "/data",
                        OMS_INGEST_MAX_MEMORY_MB=sys.argv[3])
    store, inventory = SqliteStore(settings.sqlite_path), SqliteInventory(settings.sqlite_path)
    store.ensure_schema(); inventory.ensure_schema()
    deps = build(settings, store=store, inventory=inventory)
    job = ingest_dataset_file(deps, "stock", Path(sys.argv[1]))
    [record] = store.list_quarantine().items
    print(json.dumps({"status": job.status, "counts": job.counts, "listed": len(record.reasons),
                      "types": sorted({r.type for r in record.reasons}), "payload": {
                          k: record.payload[k] for k in ("bad_rows", "bad_rows_kept", "reason_counts")
                          if k in record.payload},
                      "peak_mb": peak_mb()}))
""")


def _ingest_in_child(path: Path, memory_mb: int, address_space_mb: int = 2048) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(address_space_mb), str(memory_mb)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_parquet_bomb_of_four_million_bad_rows_is_counted_within_the_memory_cap(tmp_path: Path) -> None:
    bomb = stock_bomb(tmp_path / "bomb.parquet", 4_000_000)
    assert bomb.stat().st_size < 200_000

    report = _ingest_in_child(bomb, memory_mb=1536)

    assert report["status"] == "succeeded"
    counts = report["counts"]
    assert isinstance(counts, dict) and counts["rows_read"] == 4_000_000 and counts["quarantined"] == 4_000_000
    assert isinstance(report["peak_mb"], float) and report["peak_mb"] < 1536
    # The first reasons are worded, every one is counted.
    assert isinstance(report["listed"], int) and report["listed"] <= 1001
    assert "truncated" in report["types"]  # type: ignore[operator]
    payload = report["payload"]
    assert isinstance(payload, dict)
    assert payload["bad_rows"] == 4_000_000 and payload["bad_rows_kept"] == Limits().kept_bad_rows
    by_column = {(c["column"], c["type"]): c["rows"] for c in payload["reason_counts"]}
    assert by_column == {("on_hand", "out_of_range"): 4_000_000, ("sku", "unknown_reference"): 4_000_000,
                         ("warehouse_id", "unknown_reference"): 4_000_000,
                         ("warehouse_id+sku", "duplicate_key"): 4_000_000}


def test_a_file_that_would_not_fit_the_memory_cap_is_refused_whole_before_it_is_read(tmp_path: Path) -> None:
    bomb = stock_bomb(tmp_path / "bomb.parquet", 4_000_000)

    report = _ingest_in_child(bomb, memory_mb=300)

    assert report["status"] == "rejected"
    assert report["types"] == ["too_large"]
    assert isinstance(report["peak_mb"], float) and report["peak_mb"] < 300


def test_reasons_are_sampled_and_bad_rows_kept_up_to_the_limits_but_all_counted(tmp_path: Path) -> None:
    rows = 5000
    bomb = stock_bomb(tmp_path / "stock.parquet", rows)

    result = plan(bomb.read_bytes(), STOCK_SNAPSHOTS, None, limits=Limits(listed_reasons=10, kept_bad_rows=7))

    assert result.quarantined == rows and result.rows_read == rows
    assert len(result.reasons) == 10
    assert result.bad.num_rows == 7 and result.bad["__row"].to_pylist() == list(range(7))
    assert {(c["column"], c["type"]): c["rows"] for c in result.reason_counts} == {
        ("on_hand", "out_of_range"): rows, ("warehouse_id+sku", "duplicate_key"): rows}
    assert result.delta.removed_count == 0


def test_a_file_with_more_rows_than_the_cap_is_refused_whole(deps: Deps, write: Write) -> None:
    deps = replace(deps, settings=deps.settings.model_copy(update={"ingest_max_rows": 100}))
    job = ingest_dataset_file(deps, "master", write("big.parquet", master_table(
        [project_row(n) for n in range(1, 102)])))

    assert job.status == "rejected"
    [record] = deps.store.list_quarantine().items
    assert [r.type for r in record.reasons] == ["too_many_rows"]
    assert "101 rows, more than the 100" in record.reasons[0].msg and "OMS_INGEST_MAX_ROWS" in record.reasons[0].msg
    assert all_projects(deps) == {}


def test_a_file_whose_pages_are_over_the_uncompressed_cap_is_refused_whole(deps: Deps, write: Write) -> None:
    deps = replace(deps, settings=deps.settings.model_copy(update={"ingest_max_uncompressed_mb": 0.01}))
    rows = [project_row(n, market=os.urandom(100).hex()) for n in range(1, 200)]  # no dictionary shrinks it
    job = ingest_dataset_file(deps, "master", write("wide.parquet", master_table(rows)))

    assert job.status == "rejected"
    [record] = deps.store.list_quarantine().items
    assert [r.type for r in record.reasons] == ["too_large"]
    assert "OMS_INGEST_MAX_UNCOMPRESSED_MB" in record.reasons[0].msg
    assert all_projects(deps) == {}


# ------------------------------------------------------ files that would wipe data
def _twenty_projects(deps: Deps, write: Write) -> None:
    job = ingest_dataset_file(deps, "master", write("base.parquet", master_table(
        [project_row(n) for n in range(1, 21)])))
    assert job.counts["new"] == 20


def test_a_master_file_without_one_valid_row_removes_nothing(deps: Deps, write: Write) -> None:
    _twenty_projects(deps, write)
    before = all_projects(deps)
    snapshot = snapshots_of(deps).load(PROJECT_MASTER.name)

    job = ingest_dataset_file(deps, "master", write("bad.parquet", master_table(
        [project_row(1, national_priority=0)])))

    assert job.status == "succeeded"
    assert job.counts["quarantined"] == 1 and job.counts["removed"] == 0
    assert all_projects(deps) == before
    after = snapshots_of(deps).load(PROJECT_MASTER.name)
    assert after is not None and snapshot is not None and after.equals(snapshot)


def _catalogue(rows: list[tuple[str | None, bool]]) -> pa.Table:
    return pa.table({"sku": pa.array([s for s, _ in rows], pa.string()),
                     "description": [f"item {s}" for s, _ in rows], "uom": ["EA"] * len(rows),
                     "active": [a for _, a in rows]})


def _twenty_skus(deps: Deps, write: Write) -> list[str]:
    skus = [f"SKU-{n:02d}" for n in range(20)]
    assert ingest_dataset_file(deps, "catalog", write("base.parquet", _catalogue(
        [(s, True) for s in skus]))).counts["new"] == 20
    return skus


def test_a_catalogue_of_one_null_sku_deactivates_nothing(deps: Deps, write: Write) -> None:
    skus = _twenty_skus(deps, write)

    job = ingest_dataset_file(deps, "catalog", write("null.parquet", _catalogue([(None, True)])))

    assert job.counts["quarantined"] == 1 and job.counts["removed"] == 0
    assert all(item.active for item in deps.store.get_catalog(skus).values())


def test_a_master_dump_removing_more_than_the_share_is_held_and_changes_nothing(deps: Deps,
                                                                               write: Write) -> None:
    _twenty_projects(deps, write)
    before = all_projects(deps)

    job = ingest_dataset_file(deps, "master", write("half.parquet", master_table(
        [project_row(n, market="Boston") for n in range(1, 11)])))

    assert job.status == "rejected" and job.details["needs_confirmation"] is True
    assert job.details["would_apply"] == {"stored": 20, "removed": 10, "deactivated": 0, "share": 0.5,
                                          "limit": 0.1, "new": 0, "changed": 10, "unchanged": 0, "bad_rows": 0}
    [record] = deps.store.list_quarantine().items
    assert record.status == "open" and [r.type for r in record.reasons] == ["needs_confirmation"]
    assert record.payload["needs_confirmation"] is True
    assert "would remove 10 of the 20 rows stored (50.0%" in record.reasons[0].msg
    assert all_projects(deps) == before


def test_a_catalogue_dump_deactivating_more_than_the_share_is_held(deps: Deps, write: Write) -> None:
    skus = _twenty_skus(deps, write)

    job = ingest_dataset_file(deps, "catalog", write("off.parquet", _catalogue(
        [(s, n >= 3) for n, s in enumerate(skus)])))

    assert job.status == "rejected" and job.details["would_apply"]["deactivated"] == 3
    assert all(item.active for item in deps.store.get_catalog(skus).values())


def test_a_dump_within_the_share_is_applied_without_confirmation(deps: Deps, write: Write) -> None:
    _twenty_projects(deps, write)

    job = ingest_dataset_file(deps, "master", write("most.parquet", master_table(
        [project_row(n) for n in range(1, 19)])))

    assert job.status == "succeeded" and job.counts["removed"] == 2


def test_an_operator_confirms_a_held_dump_over_http_and_it_is_applied_once(deps: Deps, write: Write) -> None:
    _twenty_projects(deps, write)
    ingest_dataset_file(deps, "master", write("half.parquet", master_table(
        [project_row(n, market="Boston") for n in range(1, 11)])))
    [record] = deps.store.list_quarantine().items
    keys = {"key-op": {"user": "olga", "roles": ["operator"]}, "key-planner": {"user": "pia", "roles": ["planner"]}}
    deps = replace(deps, settings=deps.settings.model_copy(update={"api_keys": keys}))
    app = create_app()
    app.dependency_overrides[provide_deps] = lambda: deps

    with TestClient(app, raise_server_exceptions=False) as client:
        refused = client.post(f"/api/quarantine/{record.id}/confirm", headers={"X-API-Key": "key-planner"})
        assert refused.status_code == 403
        confirmed = client.post(f"/api/quarantine/{record.id}/confirm", headers={"X-API-Key": "key-op"})
        assert confirmed.status_code == 200, confirmed.text
        body = confirmed.json()
        assert body["record"]["status"] == "reprocessed"
        assert body["job"]["status"] == "succeeded" and body["job"]["counts"]["removed"] == 10
        again = client.post(f"/api/quarantine/{record.id}/confirm", headers={"X-API-Key": "key-op"})
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        missing = client.post("/api/quarantine/nope/confirm", headers={"X-API-Key": "key-op"})
        assert missing.status_code == 404

    projects = all_projects(deps)
    assert sum(p.removed for p in projects.values()) == 10
    assert {p.market for p in projects.values() if not p.removed} == {"Boston"}


def test_an_operator_confirms_a_held_dump_from_the_cli(deps: Deps, write: Write,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from common.cli import main

    skus = _twenty_skus(deps, write)
    ingest_dataset_file(deps, "catalog", write("off.parquet", _catalogue([(s, n >= 5) for n, s in enumerate(skus)])))
    [record] = deps.store.list_quarantine().items
    set_deps(deps)
    try:
        assert _exit_code(main, ["quarantine", "list"]) == 0
        assert record.id in capsys.readouterr().out
        assert _exit_code(main, ["quarantine", "confirm", record.id]) == 0
        assert _exit_code(main, ["quarantine", "confirm", record.id]) == 1
        assert "reprocessed, not open" in capsys.readouterr().err
    finally:
        set_deps(None)
    assert [s for s, item in deps.store.get_catalog(skus).items() if not item.active] == skus[:5]


def test_a_project_missing_from_a_held_dump_is_not_removed_by_a_later_good_dump(deps: Deps,
                                                                                write: Write) -> None:
    """Holding a dump must not move the snapshot: the next full dump is
    diffed against what is stored, not against the held file."""
    _twenty_projects(deps, write)
    ingest_dataset_file(deps, "master", write("half.parquet", master_table(
        [project_row(n) for n in range(1, 11)])))

    job = ingest_dataset_file(deps, "master", write("full.parquet", master_table(
        [project_row(n, updated_at=AT) for n in range(1, 21)])))

    assert job.status == "succeeded" and (job.counts["removed"], job.counts["unchanged"]) == (0, 20)
    assert not any(p.removed for p in all_projects(deps).values())


def _exit_code(main: Callable[[list[str]], object], args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as stopped:  # click exits, or returns for 0
        return int(stopped.code or 0)
    return 0


# ------------------------------------------------------------- the inbox
def test_a_file_that_kills_the_process_is_moved_aside_at_the_next_start(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    Inbox(root, lambda container, path: True).ensure()
    bomb = root / "stock-snapshots" / "bomb.parquet"
    bomb.write_bytes(b"PAR1 pretend this takes the process down PAR1")
    # The first process dies (as the kernel's OOM killer would end it) while
    # it holds the file.
    died = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os
        from pathlib import Path
        from common.local.inbox import Inbox
        Inbox(Path({str(root)!r}), lambda container, path: os._exit(137)).poll_once(settle=False)
    """)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert died.returncode == 137
    assert not bomb.exists() and (root / "stock-snapshots" / "processing" / "bomb.parquet").exists()

    seen: list[str] = []

    def ingest(container: str, path: Path) -> bool:
        seen.append(path.name)
        return True

    inbox = Inbox(root, ingest)
    assert inbox.recover() == [("stock-snapshots", "bomb.parquet")]
    inbox.poll_once(settle=False)

    assert seen == []  # never read again by itself
    assert (root / "stock-snapshots" / "failed" / "bomb.parquet").exists()
    assert not any((root / "stock-snapshots" / "processing").iterdir())


def test_a_good_file_dropped_after_a_crash_is_still_ingested(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    inbox = Inbox(root, lambda container, path: True)
    inbox.ensure()
    (root / "project-master" / "processing" / "old.parquet").write_bytes(b"left by a dead process")
    (root / "project-master" / "new.parquet").write_bytes(b"fine")

    inbox.recover()
    handled = inbox.poll_once(settle=False)

    assert handled == [("project-master", "new.parquet", "done")]
    assert (root / "project-master" / "done" / "new.parquet").exists()
    assert (root / "project-master" / "failed" / "old.parquet").exists()


def test_a_failed_file_with_a_name_already_taken_in_failed_keeps_both(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    inbox = Inbox(root, lambda container, path: False)
    inbox.ensure()
    for content in (b"one", b"two"):
        (root / "item-catalog" / "c.parquet").write_bytes(content)
        inbox.poll_once(settle=False)

    failed = sorted(p.read_bytes() for p in (root / "item-catalog" / "failed").iterdir())
    assert failed == [b"one", b"two"]

