"""`oms serve`: NCRONTAB schedules, inbox folders, the local admin key, and
the whole server started the way the README starts it."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from common.config import Settings
from common.local.inbox import Inbox
from common.local.scheduler import Scheduler, next_fire
from common.local.server import load_samples, running_server, runtime_path, samples_dir, with_local_admin
from common.service.bootstrap import Deps

ROOT = Path(__file__).resolve().parents[2]


def test_ncrontab_has_six_fields_with_seconds_first() -> None:
    at = datetime(2026, 11, 20, 8, 0, 5, tzinfo=UTC)
    assert next_fire("*/10 * * * * *", at) == datetime(2026, 11, 20, 8, 0, 10, tzinfo=UTC)
    assert next_fire("0 */15 * * * *", at) == datetime(2026, 11, 20, 8, 15, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="NCRONTAB"):
        next_fire("* *", at)


def test_due_jobs_run_and_a_failing_one_does_not_stop_the_others() -> None:
    now = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
    ran: list[str] = []
    scheduler = Scheduler(clock=lambda: now)

    def broken() -> None:
        raise RuntimeError("boom")

    scheduler.add("broken", "*/5 * * * * *", broken)
    scheduler.add("fine", "*/5 * * * * *", lambda: ran.append("fine"))
    scheduler.add("later", "0 0 * * * *", lambda: ran.append("later"))
    assert scheduler.run_due(datetime(2026, 11, 20, 8, 0, 5, tzinfo=UTC)) == ["broken", "fine"]
    assert ran == ["fine"]
    assert scheduler.run_due(datetime(2026, 11, 20, 8, 0, 6, tzinfo=UTC)) == []


def test_inbox_files_go_to_done_or_failed_after_ingestion(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    def ingest(container: str, path: Path) -> bool:
        seen.append((container, path.name))
        return path.name.startswith("good")

    inbox = Inbox(tmp_path / "inbox", ingest)
    inbox.ensure()
    (tmp_path / "inbox" / "project-master" / "good.parquet").write_bytes(b"x")
    (tmp_path / "inbox" / "stock-snapshots" / "bad.parquet").write_bytes(b"y")
    (tmp_path / "inbox" / "stock-snapshots" / "copying.part").write_bytes(b"z")
    assert inbox.poll_once() == []  # a file must hold its size for one poll first
    handled = inbox.poll_once()
    assert sorted(handled) == [("project-master", "good.parquet", "done"), ("stock-snapshots", "bad.parquet", "failed")]
    assert (tmp_path / "inbox" / "project-master" / "done" / "good.parquet").is_file()
    assert (tmp_path / "inbox" / "stock-snapshots" / "failed" / "bad.parquet").is_file()
    assert (tmp_path / "inbox" / "stock-snapshots" / "copying.part").is_file()


def test_without_api_keys_the_process_gets_a_fresh_local_admin_key(settings: Settings) -> None:
    bare = settings.model_copy(update={"api_keys": {}})
    configured, key = with_local_admin(bare)
    assert key and configured.api_keys[key]["roles"] == ["admin"]
    assert with_local_admin(bare)[1] != key
    assert with_local_admin(configured) == (configured, None)


def test_the_bundled_samples_load_through_the_handlers(deps: Deps) -> None:
    folder = samples_dir()
    assert folder is not None
    counts = load_samples(deps, folder)
    assert counts["created"] >= 3 and counts["quarantined"] >= 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_oms_serve_starts_with_the_samples_and_answers_with_the_printed_key(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.update(OMS_SQLITE_PATH=str(tmp_path / "oms.db"), OMS_DATA_DIR=str(tmp_path / "data"),
               PYTHONUNBUFFERED="1", COLUMNS="200")
    process = subprocess.Popen([sys.executable, "-c", "from common.cli import main; main()", "serve",
                                "--port", str(port), "--load-samples"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        key = None
        for line in process.stdout:
            lines.append(line)
            if match := re.search(r"API key \(this process only\): (\S+)", line):
                key = match.group(1)
                break
        assert key, "".join(lines)
        base = f"http://127.0.0.1:{port}/api"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        orders = httpx.get(f"{base}/orders", headers={"X-API-Key": key})
        assert orders.status_code == 200
        assert len(orders.json()["items"]) >= 3
        assert httpx.get(f"{base}/orders").status_code == 401
        assert any(f"http://127.0.0.1:{port}/api" in line for line in lines)
        # The CLI is named by a path that works from any directory, on the same store.
        cli = _printed_cli(process, lines)
        listed = subprocess.run([*cli, "orders", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=120, check=False)
        assert listed.returncode == 0, listed.stderr
        assert len(listed.stdout.splitlines()) == len(orders.json()["items"])
    finally:
        process.terminate()
        process.wait(timeout=20)


def _printed_cli(process: subprocess.Popen[str], lines: list[str]) -> list[str]:
    """The command the server printed for the CLI, as argv."""
    assert process.stdout is not None
    for line in [*lines, *(process.stdout.readline() for _ in range(5))]:
        if match := re.search(r"the oms CLI, on this store from any directory: (.+?) orders ", line):
            return match.group(1).split()
    raise AssertionError("no CLI named in: " + "".join(lines))


def _start(tmp_path: Path, port: int, *options: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """`oms serve --load-samples [options]` as scripts/run starts it; its printed key once it answers."""
    process = subprocess.Popen([sys.executable, "-c", "from common.cli import main; main()", "serve",
                                "--port", str(port), "--load-samples", *options], cwd=ROOT, env=_env(tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if match := re.search(r"API key \(this process only\): (\S+)", line):
            key = match.group(1)
            break
    else:
        raise AssertionError("".join(lines))
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return process, key, lines


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.update(OMS_SQLITE_PATH=str(tmp_path / "oms.db"), OMS_DATA_DIR=str(tmp_path / "data"),
               PYTHONUNBUFFERED="1", COLUMNS="200")
    return env


def _serve_again(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from common.cli import main; main()", "serve", "--port", str(port),
                           "--load-samples"], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.slow
def test_a_second_serve_of_the_same_store_names_the_running_server_and_its_working_key(tmp_path: Path) -> None:
    port = _free_port()
    first, key, _ = _start(tmp_path, port)
    try:
        jobs_before = httpx.get(f"http://127.0.0.1:{port}/api/jobs", headers={"X-API-Key": key}).json()

        again = _serve_again(tmp_path, port)

        assert again.returncode == 0, again.stdout + again.stderr
        assert f"already running on http://127.0.0.1:{port}/api" in again.stdout
        assert str(tmp_path / "oms.db") in again.stdout  # the store it runs on
        printed = re.findall(r"oms-local-\S+", again.stdout)
        assert printed == [key]  # the key that works, never a fresh one
        assert first.poll() is None  # the first server still serves, with the same data
        assert httpx.get(f"http://127.0.0.1:{port}/api/jobs", headers={"X-API-Key": key}).json() == jobs_before
    finally:
        first.terminate()
        first.wait(timeout=20)
    assert not (tmp_path / "data" / "server.json").exists()  # gone with its server


def test_a_port_taken_by_another_program_is_refused_in_one_line_before_any_key_is_made(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]

        done = _serve_again(tmp_path, port)

    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith(f"oms: port {port} on 127.0.0.1 is in use by another program") and "--port" in line
    assert "oms-local-" not in done.stdout + done.stderr


def test_a_runtime_file_left_by_a_server_that_died_is_ignored(settings: Settings) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    runtime_path(settings).parent.mkdir(parents=True, exist_ok=True)
    runtime_path(settings).write_text(json.dumps({"pid": int(dead.stdout), "url": "http://127.0.0.1:9/api",
                                                  "key": "oms-local-gone"}))

    assert running_server(settings) is None


def test_an_http_worker_builds_its_own_store_and_starts_no_background_loop(settings: Settings) -> None:
    from common.local.server import prepare_http_worker
    from common.service.bootstrap import built_deps, set_deps

    threads_before = {thread.ident for thread in threading.enumerate()}
    try:
        prepare_http_worker(settings)
        deps = built_deps()
        assert deps is not None and deps.settings == settings and deps.store.ping()
        # The schedule, outbox and inbox loops are threads of the parent only.
        assert {thread.ident for thread in threading.enumerate()} == threads_before
    finally:
        set_deps(None)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and "multiprocessing.spawn" in (stat.parent / "cmdline").read_text():
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_serve_with_workers_answers_from_worker_processes_and_runs_the_loops_in_the_parent_once(
        tmp_path: Path) -> None:
    port = _free_port()
    process, key, _ = _start(tmp_path, port, "--workers", "2")
    try:
        base = f"http://127.0.0.1:{port}/api"
        # The printed key (made in the parent) works in the workers.
        orders = httpx.get(f"{base}/orders", headers={"X-API-Key": key})
        assert orders.status_code == 200 and len(orders.json()["items"]) >= 3
        # server.json names the parent, which owns the server; two workers serve.
        runtime = json.loads((tmp_path / "data" / "server.json").read_text())
        assert runtime["pid"] == process.pid and runtime["workers"] == 2
        assert runtime["url"] == base and runtime["key"] == key
        workers = _children(process.pid)
        assert len(workers) == 2, workers
        # The outbox is dispatched once: by the parent's loop alone.
        sink = tmp_path / "data" / "outbox" / "order-events.jsonl"
        for _ in range(100):
            if sink.exists() and sink.read_text().strip():
                break
            time.sleep(0.1)
        time.sleep(3)  # three more rounds of a dispatcher, had a worker one
        published = [json.loads(line)["id"] for line in sink.read_text().splitlines() if line.strip()]
        assert published and len(published) == len(set(published))
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert not (tmp_path / "data" / "server.json").exists()  # gone with the parent
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
