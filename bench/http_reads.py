"""Reads over HTTP on `oms serve` against a bare FastAPI hello app, side by
side on loopback, under the same bounded load (issue 15, item 5).

It seeds a fresh SQLite store (orders written straight through
`Store.commit`: 1,000 projects, states as a busy month leaves them, four
lines each), starts `oms serve` on it and `uvicorn bench.http_hello:app`
(the anchor) as two processes, then drives each route with the same tiny
asyncio HTTP/1.1 client: a fixed number of keep-alive connections, each
sending its next request when the answer to the last has arrived. Rounds
alternate the routes, so the anchor and ours see the same machine; the best
round of each is printed with p50/p99 and its ratio to hello's best, and,
steadier on a loaded machine, the median over the rounds of each round's
ratio to the hello of that round.

    .venv/bin/python -m bench.http_reads [--workers N] [--connections 32] [--seconds 4] [--rounds 3]
    .venv/bin/python -m bench.http_reads --profile list|get   # cProfile of the app in-process, no server

The client is one asyncio loop on one core; on a 2-core machine it shares
the CPU with the servers, as any client on the same box would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from starlette.types import Message

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.adapters.sqlite import SqliteInventory, SqliteStore  # noqa: E402
from common.domain.models import Order, OrderKind, OrderLine, OrderStatus  # noqa: E402
from common.ports import DocWrite, PartitionChanges  # noqa: E402

KEY = "bench-viewer-key"
API_KEYS = json.dumps({KEY: {"user": "bench", "roles": ["viewer"]}})
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STATES = [(OrderStatus.DRAFT, 20), (OrderStatus.APPROVED, 10), (OrderStatus.ALLOCATED, 3),
          (OrderStatus.RELEASED, 15), (OrderStatus.CLOSED, 45), (OrderStatus.PARTIALLY_RETURNED, 2),
          (OrderStatus.CANCELLED, 5)]
SKUS = ("ANT-4T4R-B41", "RRU-B41-160W", "BBU-5G-SA", "CBL-HYB-30M", "MNT-PIPE-2M", "PWR-RECT-48V", "GPS-ANT")
PROJECTS = 1000


def seed(path: Path, orders: int) -> list[str]:
    """`orders` orders over PROJECTS projects; returns their ids."""
    store, inventory = SqliteStore(path), SqliteInventory(path)
    store.ensure_schema()
    inventory.ensure_schema()
    rng = random.Random(7)
    statuses, weights = zip(*STATES, strict=True)
    ids: list[str] = []
    per_project = max(1, orders // PROJECTS)
    for p in range(PROJECTS):
        project = f"PRJ-{p:07d}"
        writes = {}
        for seq in range(1, per_project + 1):
            entered = NOW - timedelta(minutes=rng.randint(0, 30 * 24 * 60))
            status = rng.choices(statuses, weights)[0]
            order = Order(
                order_id=f"{project}~SITE-{p:05d}~NewBuild~{seq}", order_number=f"ORD-{p:05d}-{seq}",
                kind=OrderKind.STANDARD, project_id=project, site_code=f"SITE-{p:05d}", order_type="NewBuild",
                seq=seq, status=status, revision=rng.randint(1, 4), design_version=rng.randint(1, 5),
                warehouse_id=("WH-EAST", "WH-WEST", "WH-CENTRAL")[p % 3], market=f"Market-{p % 40}",
                national_priority=rng.randint(1, 5), gated=rng.random() < 0.1, plan_type="Coverage",
                need_by=(entered + timedelta(days=14)).date(),
                lines=[OrderLine(line_no=n + 1, sku=sku, qty=rng.randint(1, 6))
                       for n, sku in enumerate(rng.sample(SKUS, 4))],
                approved_at=entered if status != OrderStatus.DRAFT else None,
                approved_by="approver@example.com" if status != OrderStatus.DRAFT else None,
                last_changed_by="planner@example.com", status_since=entered,
                created_at=entered - timedelta(days=1), updated_at=entered)
            writes[order.order_id] = DocWrite(order, None)
            ids.append(order.order_id)
        assert store.commit([PartitionChanges(partition=project, orders=writes)]).ok
    store.close()
    inventory.close()
    return ids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@contextlib.contextmanager
def servers(folder: Path, workers: int) -> Iterator[tuple[int, int]]:
    """`oms serve` on the seeded store and the hello app; their ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.update(OMS_SQLITE_PATH=str(folder / "oms.db"), OMS_DATA_DIR=str(folder / "data"), OMS_API_KEYS=API_KEYS,
               PYTHONPATH=str(ROOT))
    # The timers of a busy store stay out of the way: nothing is due during the bench.
    env.update(OMS_ALLOCATION_SCHEDULE="0 0 0 1 1 *", OMS_SLA_SCHEDULE="0 0 0 1 1 *")
    oms_port, hello_port = _free_port(), _free_port()
    extra = ["--workers", str(workers)] if workers > 1 else []
    oms = subprocess.Popen([sys.executable, "-m", "common.cli", "serve", "--port", str(oms_port), *extra],
                           cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hello = subprocess.Popen([sys.executable, "-m", "bench.http_hello", str(hello_port), str(workers)],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(f"http://127.0.0.1:{oms_port}/api/health", oms)
        _wait(f"http://127.0.0.1:{hello_port}/hello", hello)
        yield oms_port, hello_port
    finally:
        for process in (oms, hello):
            process.terminate()
        for process in (oms, hello):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


# ------------------------------------------------------------------ client
@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    bad: int = 0  # answers other than 200

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def _request(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n"
            "Accept: application/json\r\n\r\n").encode()


async def _connection(port: int, requests: list[bytes], offset: int, deadline: float, result: Result) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = offset
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[n % len(requests)])
            n += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            result.latencies.append(time.perf_counter() - started)
            result.requests += 1
            result.bad += status != 200
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _drive(port: int, paths: list[str], connections: int, seconds: float) -> Result:
    requests = [_request(p) for p in paths]
    result = Result()
    warm = time.perf_counter() + min(1.0, seconds / 4)  # connections opened and caches warm, not counted
    await asyncio.gather(*(_connection(port, requests, i * 7, warm, Result()) for i in range(connections)))
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, requests, i * 7, started + seconds, result)
                           for i in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


def drive(port: int, paths: list[str], connections: int, seconds: float) -> Result:
    return asyncio.run(_drive(port, paths, connections, seconds))


# ----------------------------------------------------------------- profile
def profile(route: str, ids: list[str], folder: Path, count: int = 2000) -> None:
    """The app in this process, called as uvicorn calls it (ASGI), under cProfile.
    The thread-pool hops run inline here (cProfile sees one thread only), so
    the profile shows the work, not what handing it to a thread costs: the
    served figures show that."""
    import fastapi.concurrency
    import fastapi.dependencies.utils
    import fastapi.routing
    import starlette.concurrency

    async def inline(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        return func(*args, **kwargs)

    for module in (fastapi.routing, fastapi.dependencies.utils, fastapi.concurrency, starlette.concurrency):
        module.run_in_threadpool = inline  # type: ignore[attr-defined]
    os.environ.update(OMS_SQLITE_PATH=str(folder / "oms.db"), OMS_DATA_DIR=str(folder / "data"),
                      OMS_API_KEYS=API_KEYS)
    from common.api.app import create_app

    app = create_app()
    paths = ["/api/orders?limit=50"] if route == "list" else [f"/api/orders/{i}" for i in ids[:500]]

    async def call(path: str) -> int:
        raw_path, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": raw_path, "raw_path": raw_path.encode(), "root_path": "",
                 "query_string": query.encode(), "server": ("127.0.0.1", 7071), "client": ("127.0.0.1", 5000),
                 "headers": [(b"host", b"127.0.0.1"), (b"x-api-key", KEY.encode()), (b"accept", b"application/json")]}
        status = 0

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        await app(scope, receive, send)
        return status

    async def run(n: int) -> None:
        for i in range(n):
            assert await call(paths[i % len(paths)]) == 200

    asyncio.run(run(100))
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    asyncio.run(run(count))
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"{route}: {count} requests in-process under cProfile, {elapsed / count * 1e6:.0f} µs each")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    print(out.getvalue())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def _machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="oms serve --workers (and the anchor's)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=("list", "get"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oms-http-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        ids = seed(folder / "oms.db", args.orders)
        print(f"seeded {len(ids):,} orders in {time.perf_counter() - started:.1f} s; {_machine()}")
        if args.profile:
            profile(args.profile, ids, folder)
            return
        picks = random.Random(3).sample(ids, min(1000, len(ids)))
        routes = {"hello": (None, ["/hello"]),
                  "GET /api/health": ("oms", ["/api/health"]),
                  "GET /api/orders?limit=50": ("oms", ["/api/orders?limit=50"]),
                  "GET /api/orders/{id}": ("oms", [f"/api/orders/{i}" for i in picks])}
        best: dict[str, Result] = {}
        ratios: dict[str, list[float]] = {name: [] for name in routes}  # to the same round's hello
        with servers(folder, args.workers) as (oms_port, hello_port):
            for round_ in range(args.rounds):
                for name, (which, paths) in routes.items():
                    result = drive(oms_port if which else hello_port, paths, args.connections, args.seconds)
                    if result.bad:
                        raise SystemExit(f"{name}: {result.bad} answers were not 200")
                    if name not in best or result.rate > best[name].rate:
                        best[name] = result
                    if name == "hello":
                        round_hello = result.rate
                    ratios[name].append(result.rate / round_hello)
                    print(f"  round {round_ + 1} {name:28} {result.rate:8,.0f} req/s  {ratios[name][-1]:6.3f} x "
                          "this round's hello")
        hello = best["hello"].rate
        print(f"\nHTTP reads, {args.connections} keep-alive connections, best of {args.rounds} rounds of "
              f"{args.seconds:g} s, oms serve --workers {args.workers} (anchor: bare FastAPI hello, same "
              f"uvicorn, same workers); {_machine()}")
        # On a loaded machine one lucky round moves a best-of figure: the median of each
        # round's ratio to the hello of the same round is printed beside the best's.
        print(f"{'route':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'x hello':>8} {'median x':>9}")
        for name, result in best.items():
            print(f"{name:28} {result.rate:9,.0f} {result.percentile(0.5):8.2f} {result.percentile(0.99):8.2f} "
                  f"{result.rate / hello:8.3f} {statistics.median(ratios[name]):9.3f}")
        print(f"median latency overall {statistics.median(best['hello'].latencies) * 1000:.2f} ms (hello)")


if __name__ == "__main__":
    main()
