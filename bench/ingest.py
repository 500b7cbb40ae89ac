"""Project master ingestion against the plain Parquet read.

    .venv/bin/python -m bench.ingest [--rows 1000000] [--repeat 3] [--seed 7] [--shuffle] [--apply]

Generates a realistic dump of `--rows` rows and the previous snapshot
(common/ingest/synthetic.py: 2% changed rows, 0.5% new, 0.5% removed, 0.1%
duplicated keys, 0.1% missing required values), in a child process so that
the peak memory printed is the ingestion's own. Then, in this process and in
the same run, it measures:

- floor: `pyarrow.parquet.read_table` of the dump;
- ours: reading the previous snapshot + reading, validating and diffing the
  dump (`common.ingest.pipeline.plan`): everything but the writes;

best of `--repeat` runs each (the machine is shared: the best run is the
least disturbed one), their ratio, rows per second, and the peak resident
memory (`ru_maxrss`). It checks the result against what was planted: the
counts of new / changed / removed / quarantined / unchanged rows, the exact
bad rows, and for every changed row exactly the columns that changed. Exit
status 1 when anything is off.

`--shuffle` scrambles the dump's row order (consecutive exports normally keep
it; a scrambled dump makes the join's memory access random). `--apply` also
runs the whole handler once on a SQLite store, writes included.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from common.ingest.pipeline import Plan, plan
from common.ingest.schema import PROJECT_MASTER
from common.ingest.snapshots import Snapshots


def _generate(folder: str, rows: int, seed: int, shuffle: bool) -> dict[str, Any]:
    """In a child process: write the dump and the snapshot, return the truth."""
    from common.ingest.synthetic import generate_master

    planted = generate_master(rows, seed, shuffle=shuffle)
    pq.write_table(planted.current, Path(folder) / "project-master-dump.parquet")
    Snapshots(None, Path(folder) / "snapshots").save(PROJECT_MASTER.name, planted.previous)
    return {"new": planted.new_keys, "removed": planted.removed_keys, "changed": planted.changed,
            "bad_rows": planted.quarantined_rows, "unchanged": planted.unchanged}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(dump: Path, snapshots: Snapshots) -> Plan:
    previous = snapshots.load(PROJECT_MASTER.name, dictionaries=PROJECT_MASTER.categorical)
    return plan(dump, PROJECT_MASTER, previous)


def _check(result: Plan, truth: dict[str, Any], rows: int) -> list[str]:
    delta = result.delta
    got = {
        "rows read": (result.rows_read, rows),
        "new": (delta.new.num_rows, len(truth["new"])),
        "changed": (delta.changed.num_rows, len(truth["changed"])),
        "removed": (delta.removed_count, len(truth["removed"])),
        "quarantined": (result.quarantined, len(truth["bad_rows"])),
        "unchanged": (delta.unchanged, truth["unchanged"]),
    }
    problems = [f"{name}: got {a}, planted {b}" for name, (a, b) in got.items() if a != b]
    for name, (a, b) in got.items():
        print(f"  {name:12s} {a:>9,}  planted {b:>9,}  {'ok' if a == b else 'WRONG'}")
    if set(delta.new["project_id"].to_pylist()) != truth["new"]:
        problems.append("new keys differ from the planted ones")
    if delta.removed is None or set(delta.removed["project_id"].to_pylist()) != truth["removed"]:
        problems.append("removed keys differ from the planted ones")
    if set(result.bad["__row"].to_pylist()) != truth["bad_rows"]:
        problems.append("bad rows differ from the planted ones")
    columns = {key: set(names) for key, names in delta.changed_columns().items()}
    wrong = [k for k in truth["changed"] if columns.get(k) != truth["changed"][k]]
    if wrong or set(columns) != set(truth["changed"]):
        problems.append(f"{len(wrong)} changed rows list the wrong columns")
    print(f"  changed columns: {'exact for every changed row' if not wrong else f'{len(wrong)} rows WRONG'}")
    return problems


def _apply(folder: Path, dump: Path) -> None:
    from common.adapters.sqlite import SqliteInventory, SqliteStore
    from common.config import Settings
    from common.service.bootstrap import build
    from common.service.handlers.datasets import ingest_dataset_file

    settings = Settings(OMS_SQLITE_PATH=str(folder / "oms.db"), OMS_DATA_DIR=str(folder))
    store = SqliteStore(settings.sqlite_path)
    store.ensure_schema()
    deps = build(settings, store=store, inventory=SqliteInventory(settings.sqlite_path), blobs=None)
    started = time.perf_counter()
    job = ingest_dataset_file(deps, "master", dump)
    print(f"whole handler, writes included: {time.perf_counter() - started:.2f} s "
          f"(validate + diff {job.details.get('validate_s')} s), peak memory now {_rss_mb():,.0f} MiB; "
          f"counts {dict(sorted(job.counts.items()))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--apply", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="oms-bench-ingest-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            truth = pool.apply(_generate, (tmp, args.rows, args.seed, args.shuffle))
        dump = folder / "project-master-dump.parquet"
        snapshots = Snapshots(None, folder / "snapshots")
        print(f"generated {args.rows:,} rows ({dump.stat().st_size / 2**20:.1f} MiB Parquet) "
              f"in {time.perf_counter() - started:.1f} s{' (shuffled)' if args.shuffle else ''}")

        floors: list[float] = []
        ours: list[float] = []
        result: Plan | None = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            table = pq.read_table(dump)
            floors.append(time.perf_counter() - t0)
            del table
            result = None
            t0 = time.perf_counter()
            result = _ours(dump, snapshots)
            ours.append(time.perf_counter() - t0)
        assert result is not None
        floor, best = min(floors), min(ours)
        print(f"floor  pyarrow.parquet.read_table : best {floor:.3f} s  (median {statistics.median(floors):.3f})")
        print(f"ours   validation + delta        : best {best:.3f} s  (median {statistics.median(ours):.3f})")
        median_ratio = statistics.median(ours) / statistics.median(floors)
        print(f"ratio                             : {best / floor:.2f}x  (median {median_ratio:.2f}x)")
        print(f"rows per second                   : {args.rows / best:,.0f}")
        print(f"peak resident memory              : {_rss_mb():,.0f} MiB")
        print("exactness against what was planted:", flush=True)
        problems = _check(result, truth, args.rows)
        del result
        if args.apply:
            _apply(folder, dump)
    for problem in problems:
        print(f"WRONG: {problem}", file=sys.stderr)
    ratio_ok = best / floor <= 5
    if not ratio_ok:
        print(f"over budget: {best / floor:.2f}x the plain read (budget 5x)", file=sys.stderr)
    return 0 if not problems and ratio_ok else 1


if __name__ == "__main__":
    sys.exit(main())
