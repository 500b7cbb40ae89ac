"""A first load of the project master on SQLite, writes included, against a
bare `executemany` of the same documents.

    .venv/bin/python -m bench.first_load [--rows 1000000] [--seed 7]

Generates a dump of `--rows` new projects (common/ingest/synthetic.py; 0.1%
duplicated keys and 0.1% missing values, quarantined) and runs the whole
handler (`oms ingest master`: read, validate, diff against no snapshot,
quarantine the bad rows, write every good row, re-evaluate parked designs,
save the snapshot, evaluate replenishment) on a fresh SQLite store, in a
child process of its own so that its peak memory is its own. It prints the
whole time and where it went (validate + diff, the documents made, the
store's writes, the snapshot, the rest), rows written per second, and, as
the floor, the same (id, document) rows written to a fresh database by one
`executemany` in one transaction (same table, same settings), with our ratio
to it. It checks every good row was stored. Exit status 1 when one is
missing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def _generate(folder: str, rows: int, seed: int) -> int:
    from common.ingest.synthetic import generate_master

    planted = generate_master(rows, seed)
    pq.write_table(planted.current, Path(folder) / "project-master-dump.parquet")
    return rows - len(planted.quarantined_rows)


def _timed(spent: defaultdict[str, float], what: str, function: Any) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[what] += time.perf_counter() - started
    return timed


def _load(folder: str) -> dict[str, Any]:
    """In a child process: the whole handler once, its phases timed."""
    from bench.ingest import _rss_mb
    from common.adapters.blob import LocalFolderBlobSource
    from common.adapters.sqlite import SqliteInventory, SqliteStore
    from common.config import Settings
    from common.ingest import snapshots
    from common.ingest.snapshots import Snapshots
    from common.service.bootstrap import build
    from common.service.handlers import datasets

    root = Path(folder)
    settings = Settings(OMS_SQLITE_PATH=str(root / "oms.db"), OMS_DATA_DIR=str(root))
    store = SqliteStore(settings.sqlite_path)
    store.ensure_schema()
    spent: defaultdict[str, float] = defaultdict(float)
    # Timed where they are called from, so nothing of the handler's own logic changes.
    store.put_projects = _timed(spent, "store writes", store.put_projects)  # type: ignore[method-assign]
    for name, what in (("serialized", "documents made"), ("plan", "validate + diff")):
        if hasattr(datasets, name):  # (an older build, run for a before figure, may lack one)
            setattr(datasets, name, _timed(spent, what, getattr(datasets, name)))
    if hasattr(snapshots, "PendingSnapshot"):  # written in a thread beside the writes, then put in place
        pending = snapshots.PendingSnapshot
        pending._write = _timed(spent, "snapshot written", pending._write)  # type: ignore[method-assign]
        pending.commit = _timed(spent, "snapshot waited for", pending.commit)  # type: ignore[method-assign]
    else:
        Snapshots.save = _timed(spent, "snapshot saved", Snapshots.save)  # type: ignore[method-assign]
    deps = build(settings, store=store, inventory=SqliteInventory(settings.sqlite_path),
                 blobs=LocalFolderBlobSource(root))
    loaded = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    job = datasets.ingest_dataset_file(deps, "master", root / "project-master-dump.parquet")
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    stored = store._rows("SELECT count(*) FROM projects")[0][0]
    return {"total": total, "spent": dict(spent), "job": job.model_dump(mode="json"), "stored": stored,
            "peak": _rss_mb(), "loaded": loaded, "cpu": cpu}


def _floor(folder: str) -> tuple[float, int, float]:
    """The stored rows, written again by one executemany in one transaction
    into a fresh database made by the same store (same table, same pragmas)."""
    from common.adapters.sqlite import SqliteStore

    source = sqlite3.connect(Path(folder) / "oms.db")
    rows = source.execute("SELECT id, doc FROM projects ORDER BY rowid").fetchall()
    source.close()
    store = SqliteStore(Path(folder) / "floor.db")
    store.ensure_schema()
    db = store._db
    started, cpu = time.perf_counter(), time.process_time()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO projects (id, doc) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                   rows)
    db.execute("COMMIT")
    return time.perf_counter() - started, len(rows), time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="oms-bench-first-load-") as tmp:
        with spawn.Pool(1) as pool:
            good = pool.apply(_generate, (tmp, args.rows, args.seed))
        with spawn.Pool(1) as pool:
            run = pool.apply(_load, (tmp,))
        with spawn.Pool(1) as pool:
            floor, floor_rows, floor_cpu = pool.apply(_floor, (tmp,))
    job, spent, total = run["job"], run["spent"], run["total"]
    written = int(job["counts"].get("rows_written", 0))
    writes = spent.get("store writes", 0.0)
    print(f"first load of {args.rows:,} rows ({good:,} good, {job['counts'].get('quarantined', 0):,} quarantined): "
          f"{total:.2f} s, {job['status']}; {written / total:,.0f} rows/s overall")
    # The documents of a chunk are made in a thread while the previous chunk is written, and the snapshot
    # is written in another: beside, not in line.
    beside = {"documents made", "snapshot written"}
    rest = "the rest (quarantine, progress, parked designs, replenishment, job)"
    parts = {**{k: v for k, v in spent.items() if k not in beside},
             rest: total - sum(v for k, v in spent.items() if k not in beside)}
    for what, seconds in parts.items():
        print(f"  {what:30s} {seconds:7.2f} s")
    for what in sorted(beside & set(spent)):
        print(f"  {what:30s} {spent[what]:7.2f} s in a thread, beside the store writes")
    print(f"  store writes: {written:,} rows at {written / writes:,.0f} rows/s" if writes else "  no store writes")
    print(f"floor: the same {floor_rows:,} rows by one executemany in one transaction: {floor:.2f} s "
          f"({floor_rows / floor:,.0f} rows/s); our store writes {writes / floor:.2f}x it, the whole load "
          f"{total / floor:.2f}x it")
    print(f"CPU time (every thread): the load {run['cpu']:.2f} s, the floor {floor_cpu:.2f} s: the wall times are "
          f"{total / max(run['cpu'], 1e-9):.2f}x and {floor / max(floor_cpu, 1e-9):.2f}x them on this machine now")
    print(f"peak resident memory of the load: {run['peak']:,.0f} MiB ({run['loaded']:,.0f} MiB loaded)")
    print(f"machine after: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if run["stored"] != good or job["status"] != "succeeded":
        print(f"WRONG: {run['stored']:,} projects stored, {good:,} good rows", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
