"""What the Cosmos DB path costs, next to the embedded store, measured on the
local Cosmos server (tests/emulators/cosmos_server.js, whose request charges
follow Cosmos DB's published costs; see its RU model comment):

1. Engineering events through the real handler: requests and request units
   (RU) per event on Cosmos DB, statements per event on SQLite, the same
   events in the same run.
2. A first load of N new projects (the project master) through the real
   dataset handler on Cosmos DB: RU and requests per row, and what that means
   on serverless (5,000 RU/s) and on provisioned autoscale (10,000 RU/s max),
   then the same load with a time budget small enough to stop it several
   times: every attempt resumes, none starts over.

    .venv/bin/python -m bench.cosmos_costs [--events 4000] [--streams 1000] [--rows 100000] [--budget-parts 3]

A million rows through the one-process local server takes long: run the
resumed load alone, stopped every `--budget` seconds as a Functions run is:

    .venv/bin/python -m bench.cosmos_costs --rows 1000000 --parts resumed --budget 480

Without OMS_TEST_COSMOS_ENDPOINT it starts its own Cosmos server (npm, with
a large heap for a million documents) and stops it at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import urllib3
from azure.core.exceptions import ServiceResponseError
from azure.core.pipeline.transport import RequestsTransport
from azure.cosmos import CosmosClient, exceptions

from bench.events import NullNotifier, make_events, make_reference
from common.adapters.blob import LocalFolderBlobSource
from common.adapters.clock import SystemClock
from common.adapters.cosmos import CosmosInventory, CosmosStore
from common.adapters.sqlite import SqliteInventory, SqliteStore
from common.config import Settings
from common.ingest.synthetic import generate_master
from common.service.bootstrap import Deps, build
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.datasets import IngestDataset, IngestionIncomplete, ingest_dataset
from common.service.handlers.engineering import ingest_engineering_events
from tests.emulators import launcher
from tests.emulators.settings import EMULATOR_KEY

SERVERLESS_RU_S = 5_000
AUTOSCALE_RU_S = 10_000
FUNCTION_BUDGET_S = 480


class CountingTransport(RequestsTransport):  # type: ignore[misc]
    """Counts requests and sums the request charge each answer carries."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lock = threading.Lock()
        self.requests = 0
        self.ru = 0.0

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        charge = float(response.headers.get("x-ms-request-charge") or 0)
        with self.lock:
            self.requests += 1
            self.ru += charge
        return response

    def snapshot(self) -> tuple[int, float]:
        with self.lock:
            return self.requests, self.ru


@contextmanager
def cosmos_server() -> Iterator[str]:
    given = os.environ.get("OMS_TEST_COSMOS_ENDPOINT")
    if given:
        yield given
        return
    modules = launcher.install()
    port = launcher.free_port()
    log = (launcher.HOME / "bench-cosmos.log").open("ab")
    proc = subprocess.Popen(["node", "--max-old-space-size=8192", str(launcher.HERE / "cosmos_server.js"),
                             str(modules), "127.0.0.1", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        launcher._wait("cosmos", proc, launcher._answers_https, port)
        yield f"https://127.0.0.1:{port}/"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a server busy with a million documents
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def cosmos_deps(endpoint: str, tmp: Path) -> tuple[Deps, CountingTransport, CosmosStore]:
    # The local server is slow under a big load on a busy machine: a generous
    # read timeout, and its self-signed certificate not warned about per request.
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    transport = CountingTransport(connection_verify=False, read_timeout=120)
    client = CosmosClient(endpoint, credential=EMULATOR_KEY, connection_verify=False, transport=transport,
                          enable_endpoint_discovery=False)
    database = f"bench-{uuid.uuid4().hex[:8]}"
    store, inventory = CosmosStore(client, database), CosmosInventory(client, database)
    store.ensure_schema()
    inventory.ensure_schema()
    settings = Settings(OMS_STORE="cosmos", OMS_DATA_DIR=str(tmp / "data"))  # type: ignore[call-arg]
    deps = build(settings, store=store, inventory=inventory, blobs=LocalFolderBlobSource(tmp / "data"),
                 clock=SystemClock(), notifier=NullNotifier())
    return deps, transport, store


def sqlite_deps(tmp: Path) -> tuple[Deps, list[int], SqliteStore]:
    path = tmp / "oms.db"
    store, inventory = SqliteStore(path), SqliteInventory(path)
    store.ensure_schema()
    inventory.ensure_schema()
    statements = [0]

    def count(_sql: str) -> None:
        statements[0] += 1

    store._db.set_trace_callback(count)  # the connection every store statement runs on
    settings = Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH=str(path),  # type: ignore[call-arg]
                        OMS_DATA_DIR=str(tmp / "data"))
    deps = build(settings, store=store, inventory=inventory, clock=SystemClock(), notifier=NullNotifier())
    return deps, statements, store


def ingest(deps: Deps, events: list[Any], batch: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for start in range(0, len(events), batch):
        cmd = IngestEngineeringEvents(events[start:start + batch], channel="bench")
        report = ingest_engineering_events(deps, cmd)
        for name, value in report.counts.items():
            counts[name] = counts.get(name, 0) + value
    return counts


def events_part(endpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    projects, catalog = make_reference(args.streams, rng)
    events, _ = make_events(args.streams, args.events, rng)
    out: dict[str, Any] = {"events": len(events), "batch": args.batch}
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        deps, transport, store = cosmos_deps(endpoint, Path(tmp))
        store.put_projects(projects)
        store.put_catalog(catalog)
        before = transport.snapshot()
        start = time.perf_counter()
        counts = ingest(deps, events, args.batch)
        seconds = time.perf_counter() - start
        requests, ru = (a - b for a, b in zip(transport.snapshot(), before, strict=True))
        out["cosmos"] = {"requests": requests, "ru": round(ru, 1), "seconds": round(seconds, 2), "counts": counts}
        store._client_factory().delete_database(store.database_name)
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        sdeps, statements, sstore = sqlite_deps(Path(tmp))
        sstore.put_projects(projects)
        sstore.put_catalog(catalog)
        statements[0] = 0
        start = time.perf_counter()
        ingest(sdeps, events, args.batch)
        out["sqlite"] = {"statements": statements[0], "seconds": round(time.perf_counter() - start, 2)}
        sstore.close()
    return out


def master_file(rows: int, path: Path) -> Path:
    # A clean dump; the bench store has no snapshot yet, so every row is new.
    pq.write_table(generate_master(rows, seed=11, duplicates=0, missing=0).current, path)
    return path


def load_part(endpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": args.rows}
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as tmp:
        file = master_file(args.rows, Path(tmp) / "master.parquet")
        out["file_mb"] = round(file.stat().st_size / 2**20, 1)
        seconds = 0.0
        if "whole" in args.parts:
            seconds = whole_load(endpoint, file, Path(tmp), out)
        if "resumed" in args.parts:
            budget = args.budget or max(seconds / args.budget_parts, 0.5)
            out["resumed"] = resumed_load(endpoint, file, Path(tmp) / "resumed", budget)
    return out


def whole_load(endpoint: str, file: Path, tmp: Path, out: dict[str, Any]) -> float:
    """One uninterrupted load on a fresh database; its seconds."""
    deps, transport, store = cosmos_deps(endpoint, tmp)
    before = transport.snapshot()
    start = time.perf_counter()
    run = ingest_dataset(deps, IngestDataset("project-master", file, file.name, "file"))
    seconds = time.perf_counter() - start
    requests, ru = (a - b for a, b in zip(transport.snapshot(), before, strict=True))
    out["whole"] = {"seconds": round(seconds, 1), "requests": requests, "ru": round(ru),
                    "written": run.counts.get("rows_written", 0), "status": run.status}
    store._client_factory().delete_database(store.database_name)
    return seconds


def resumed_load(endpoint: str, file: Path, tmp: Path, budget: float) -> dict[str, Any]:
    """The load on a fresh database, each attempt stopped by `budget` seconds
    as the host stops a run, and retried as the host retries the blob: every
    attempt goes on where the last one stopped."""
    deps, transport, store = cosmos_deps(endpoint, tmp)
    attempts, start, stops = 0, time.perf_counter(), []
    while True:
        attempts += 1
        try:
            run = ingest_dataset(deps, IngestDataset("project-master", file, file.name, "blob", time_budget=budget))
            break
        except IngestionIncomplete:
            stops.append(round(time.perf_counter() - start, 1))
            print(json.dumps({"attempt": attempts, "stopped_at_s": stops[-1],
                              "requests_ru": transport.snapshot()}), flush=True)
            if attempts > 50:
                raise
    requests, ru = transport.snapshot()
    written = sum(j.counts.get("rows_written", 0) for j in store.list_jobs(100))
    print(json.dumps({"attempts": attempts, "rows_written": written, "status": run.status}), flush=True)
    # The one-process server counts a million documents slower than any
    # timeout worth waiting for: then the rows written (from the job runs)
    # stand alone, and the report says the count is missing.
    projects = store._client_factory().get_database_client(store.database_name).get_container_client("projects")
    try:
        stored = next(iter(projects.query_items("SELECT VALUE COUNT(1) FROM c", enable_cross_partition_query=True,
                                                read_timeout=900, timeout=900)))
    except (exceptions.CosmosClientTimeoutError, ServiceResponseError):
        stored = None
    out = {"budget_s": round(budget, 1), "attempts": attempts, "stops_at_s": stops,
           "seconds": round(time.perf_counter() - start, 1), "rows_written": written, "projects_stored": stored,
           "requests": requests, "ru": round(ru), "status": run.status}
    store._client_factory().delete_database(store.database_name)
    return out


def report(events: dict[str, Any] | None, load: dict[str, Any]) -> None:
    if events:
        report_events(events)
    report_load(load)


def report_events(events: dict[str, Any]) -> None:
    n = events["events"]
    c, s = events["cosmos"], events["sqlite"]
    print(f"\n1. engineering events ({n} events, batches of {events['batch']}, the same events on both stores)")
    print(f"   {'store':<8} {'requests/statements':>20} {'per event':>10} {'RU/event':>9} {'events/s':>9}")
    print(f"   {'cosmos':<8} {c['requests']:>20} {c['requests'] / n:>10.2f} {c['ru'] / n:>9.1f} "
          f"{n / c['seconds']:>9.0f}")
    print(f"   {'sqlite':<8} {s['statements']:>20} {s['statements'] / n:>10.2f} {'-':>9} {n / s['seconds']:>9.0f}")
    print(f"   ratio: Cosmos requests per event / SQLite statements per event = "
          f"{(c['requests'] / n) / (s['statements'] / n):.2f}")
    per_event = c["ru"] / n
    print(f"   at {per_event:.1f} RU/event: serverless {SERVERLESS_RU_S} RU/s -> {SERVERLESS_RU_S / per_event:,.0f} "
          f"events/s; autoscale {AUTOSCALE_RU_S} RU/s -> {AUTOSCALE_RU_S / per_event:,.0f} events/s")


def report_load(load: dict[str, Any]) -> None:
    rows = load["rows"]
    print(f"\n2. first load of {rows:,} new projects ({load['file_mb']} MB Parquet)")
    whole = load.get("whole")
    if whole:
        per_row = whole["ru"] / rows
        print(f"   whole: {whole['seconds']} s on the local server ({rows / whole['seconds']:,.0f} rows/s), "
              f"{whole['requests'] / rows:.3f} requests/row, {per_row:.2f} RU/row, {whole['ru']:,} RU in all")
        for name, rate in (("serverless", SERVERLESS_RU_S), ("autoscale", AUTOSCALE_RU_S)):
            needed = whole["ru"] / rate
            print(f"   on {name} ({rate} RU/s): {needed:,.0f} s of writes at least -> "
                  f"{max(1, -(-int(needed) // FUNCTION_BUDGET_S))} function runs of {FUNCTION_BUDGET_S} s; "
                  f"a million rows: {per_row * 1_000_000 / rate / 60:,.1f} min")
    r = load.get("resumed")
    if not r:
        return
    stored = ("not counted (the server did not answer in time)" if r["projects_stored"] is None
              else f"{r['projects_stored']:,}")
    print(f"   resumed: budget {r['budget_s']} s -> {r['attempts']} attempts, {r['seconds']} s, "
          f"{r['rows_written']:,} rows written for {rows:,} rows, "
          f"projects stored: {stored} "
          f"({r['status']}); stopped at {r['stops_at_s']} s; "
          f"{r['ru'] / rows:.2f} RU/row (every attempt re-reads the file and the snapshot, writes only what is left)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--budget-parts", type=int, default=3, help="stop the resumed load about this many times")
    parser.add_argument("--budget", type=float, default=0.0,
                        help="seconds per attempt of the resumed load (default: the whole load's / --budget-parts)")
    parser.add_argument("--parts", default="events,whole,resumed",
                        help="comma-separated: events, whole (one uninterrupted load), resumed (stopped and resumed)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.parts = set(args.parts.split(","))
    if "resumed" in args.parts and "whole" not in args.parts and not args.budget:
        parser.error("--parts resumed without whole needs --budget")
    with cosmos_server() as endpoint:
        events = events_part(endpoint, args) if "events" in args.parts else None
        print(json.dumps({"events": events}), flush=True)  # kept even if the load part fails
        load = load_part(endpoint, args)
    if args.json:
        print(json.dumps({"events": events, "load": load}, indent=2))
    report(events, load)


if __name__ == "__main__":
    main()
