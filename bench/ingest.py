"""Project master ingestion against the plain Parquet read, DuckDB and polars.

    .venv/bin/python -m bench.ingest [--rows 1000000] [--repeat 5] [--seed 7] [--shuffle] [--apply]
                                     [--no-anchors]

Generates a realistic dump of `--rows` rows and the previous snapshot
(common/ingest/synthetic.py: 2% changed rows, 0.5% new, 0.5% removed, 0.1%
duplicated keys, 0.1% missing required values) in a child process. Then, in
the same run, interleaved, best of `--repeat` runs each (the machine is
shared: the best run is the least disturbed one):

- floor: `pyarrow.parquet.read_table` of the dump;
- ours: reading the previous snapshot + reading, validating and diffing the
  dump (`common.ingest.pipeline.plan`): everything but the writes;
- the anchors, DuckDB and polars (bench/ingest_anchors.py): the same files,
  the same checks and delta, each with its own threads; optional bench
  dependencies (requirements-dev.txt, `scripts/setup dev`): a missing one is
  said so and skipped.

It prints each time, its ratio to the floor and ours to each anchor, rows
per second, and each contender's peak resident memory, measured once in a
fresh child process of its own (`ru_maxrss`: the generator, the floor and
the other contenders never count). Every contender is checked against what
was planted: the counts of new / changed / removed / quarantined / unchanged
rows, the exact new, removed and bad rows, and for every changed row exactly
the columns that changed. Exit status 1 when anything is off.

`--shuffle` scrambles the dump's row order (consecutive exports normally keep
it; a scrambled dump makes the key lookup fall back to a hash join). `--apply`
also runs the whole handler once on a SQLite store against that snapshot,
writes included, and prints the write phase; bench/first_load.py times a
first load of new projects.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from bench import ingest_anchors
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
    """This process's peak resident memory. VmHWM where Linux has it: a child
    process's ru_maxrss starts from its parent's peak (kept through fork and
    exec), VmHWM from its own program's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(dump: Path, snapshots: Snapshots) -> Plan:
    """As the handler does it: the previous snapshot opened, read a column at a time by the delta."""
    previous = snapshots.open(PROJECT_MASTER.name, PROJECT_MASTER.key, dictionaries=PROJECT_MASTER.categorical)
    return plan(dump, PROJECT_MASTER, previous)


def _floor(dump: Path) -> None:
    pq.read_table(dump)


def _contenders(folder: Path, anchors: list[str]) -> dict[str, Callable[[], object]]:
    dump = folder / "project-master-dump.parquet"
    snapshots = Snapshots(None, folder / "snapshots")
    runs: dict[str, Callable[[], object]] = {"floor": partial(_floor, dump), "ours": partial(_ours, dump, snapshots)}
    for name in anchors:
        runs[name] = partial(ingest_anchors.PLANS[name], dump, snapshots.root / f"{PROJECT_MASTER.name}.parquet",
                             PROJECT_MASTER)
    return runs


def _peak(folder: str, name: str, anchors: list[str]) -> tuple[float, float]:
    """In a fresh child process: its resident memory once the contender's
    modules are loaded, and its peak over one run."""
    run = _contenders(Path(folder), anchors)[name]
    if name in anchors:
        importlib.import_module(name)
    before = _rss_mb()
    run()
    return before, _rss_mb()


def _outcome(result: Plan) -> ingest_anchors.Outcome:
    delta = result.delta
    return ingest_anchors.Outcome(
        rows_read=result.rows_read, new_keys=set(delta.new["project_id"].to_pylist()),
        removed_keys=set(delta.removed["project_id"].to_pylist()) if delta.removed is not None else set(),
        bad_rows=set(result.bad["__row"].to_pylist()),
        changed={key: set(names) for key, names in delta.changed_columns().items()}, unchanged=delta.unchanged,
        extra={"quarantined": result.quarantined})


def _check(name: str, got: ingest_anchors.Outcome, truth: dict[str, Any], rows: int) -> list[str]:
    counts = {
        "rows read": (got.rows_read, rows),
        "new": (len(got.new_keys), len(truth["new"])),
        "changed": (len(got.changed), len(truth["changed"])),
        "removed": (len(got.removed_keys), len(truth["removed"])),
        "quarantined": (got.extra.get("quarantined", len(got.bad_rows)), len(truth["bad_rows"])),
        "unchanged": (got.unchanged, truth["unchanged"]),
    }
    problems = [f"{name}: {what}: got {a}, planted {b}" for what, (a, b) in counts.items() if a != b]
    if got.new_keys != truth["new"]:
        problems.append(f"{name}: new keys differ from the planted ones")
    if got.removed_keys != truth["removed"]:
        problems.append(f"{name}: removed keys differ from the planted ones")
    if got.bad_rows != truth["bad_rows"]:
        problems.append(f"{name}: bad rows differ from the planted ones")
    wrong = [k for k in truth["changed"] if got.changed.get(k) != truth["changed"][k]]
    if wrong or set(got.changed) != set(truth["changed"]):
        problems.append(f"{name}: {len(wrong)} changed rows list the wrong columns")
    verdict = "exact" if not problems else "WRONG"
    print(f"  {name:7s} " + "  ".join(f"{what} {a:,}" for what, (a, _) in counts.items())
          + f"; bad rows, keys and changed columns: {verdict}")
    return problems


def apply_on_sqlite(folder: Path, dump: Path) -> tuple[float, dict[str, Any]]:
    """The whole handler once on a fresh SQLite store (data folder `folder`,
    whose snapshots/ holds the previous snapshot, if any): its time and job run."""
    from common.adapters.blob import LocalFolderBlobSource
    from common.adapters.sqlite import SqliteInventory, SqliteStore
    from common.config import Settings
    from common.service.bootstrap import build
    from common.service.handlers.datasets import ingest_dataset_file

    settings = Settings(OMS_SQLITE_PATH=str(folder / "oms.db"), OMS_DATA_DIR=str(folder))
    store = SqliteStore(settings.sqlite_path)
    store.ensure_schema()
    deps = build(settings, store=store, inventory=SqliteInventory(settings.sqlite_path),
                 blobs=LocalFolderBlobSource(folder))
    started = time.perf_counter()
    job = ingest_dataset_file(deps, "master", dump)
    return time.perf_counter() - started, job.model_dump(mode="json")


def print_apply(seconds: float, job: dict[str, Any]) -> None:
    details, counts = job["details"], job["counts"]
    validate = float(details.get("validate_s") or 0)
    written = int(counts.get("rows_written", 0))
    write = max(seconds - validate, 1e-9)
    print(f"whole handler, writes included: {seconds:.2f} s ({job['status']}): validate + diff {validate:.2f} s, "
          f"write phase {write:.2f} s for {written:,} rows written ({written / write:,.0f} rows/s; the phase "
          f"also re-evaluates parked designs, saves the snapshot and evaluates replenishment)")
    print(f"  counts {dict(sorted(counts.items()))}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--apply", action="store_true")
    parser.add_argument("--no-anchors", action="store_true", help="time ours and the floor only")
    args = parser.parse_args(argv)

    installed = ingest_anchors.available()
    anchors = [] if args.no_anchors else [name for name, ok in installed.items() if ok]
    for name, ok in installed.items():
        if not ok and not args.no_anchors:
            print(f"anchor {name}: not installed (a bench dependency: scripts/setup dev); skipped")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="oms-bench-ingest-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1) as pool:
            truth = pool.apply(_generate, (tmp, args.rows, args.seed, args.shuffle))
        dump = folder / "project-master-dump.parquet"
        print(f"generated {args.rows:,} rows, 15 columns ({dump.stat().st_size / 2**20:.1f} MiB Parquet) "
              f"in {time.perf_counter() - started:.1f} s{' (shuffled)' if args.shuffle else ''}")

        runs = _contenders(folder, anchors)
        times: dict[str, list[float]] = {name: [] for name in runs}
        results: dict[str, object] = {}
        for _ in range(args.repeat):
            for name, run in runs.items():
                results.pop(name, None)
                t0 = time.perf_counter()
                results[name] = run()
                times[name].append(time.perf_counter() - t0)
        peaks: dict[str, tuple[float, float]] = {}
        for name in runs:
            with spawn.Pool(1) as pool:
                peaks[name] = pool.apply(_peak, (tmp, name, anchors))

        best = {name: min(t) for name, t in times.items()}
        floor = best["floor"]
        labels = {"floor": "floor  pyarrow.parquet.read_table", "ours": "ours   validation + delta",
                  "duckdb": "DuckDB same checks and delta", "polars": "polars same checks and delta"}
        for name in runs:
            base, peak = peaks[name]
            print(f"{labels[name]:34s}: best {best[name]:.3f} s (median {statistics.median(times[name]):.3f}) "
                  f"= {best[name] / floor:4.2f}x the floor; peak RSS {peak:,.0f} MiB ({base:,.0f} MiB loaded)")
        for name in anchors:
            print(f"ours against {name:6s}                : {best['ours'] / best[name]:.2f}x its time")
        print(f"rows per second, ours               : {args.rows / best['ours']:,.0f}")
        print(f"machine after: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("exactness against what was planted:", flush=True)
        ours = results.pop("ours")
        assert isinstance(ours, Plan)
        problems += _check("ours", _outcome(ours), truth, args.rows)
        del ours
        for name in anchors:
            read = results.pop(name)
            assert callable(read)
            problems += _check(name, read(), truth, args.rows)
        if args.apply:
            print_apply(*apply_on_sqlite(folder, dump))
    for problem in problems:
        print(f"WRONG: {problem}", file=sys.stderr)
    ratio = best["ours"] / floor
    if ratio > 5:
        print(f"over budget: {ratio:.2f}x the plain read (budget 5x)", file=sys.stderr)
    return 0 if not problems and ratio <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
