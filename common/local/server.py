"""`oms serve`: uvicorn with the API on the embedded store, plus the schedule,
the outbox dispatcher and the inbox folders on background threads."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from common.config import Settings
from common.service.bootstrap import Deps

log = logging.getLogger("oms.local")

LOCAL_ADMIN = "local-admin"
RUNTIME_FILE = "server.json"  # in OMS_DATA_DIR while a server runs on that store


class ServeRefused(RuntimeError):
    """The server cannot start here (the port is taken by another program)."""


@dataclass(frozen=True)
class Running:
    """An `oms serve` of this store, alive and answering."""

    url: str
    pid: int
    store: str
    key: str | None  # its local admin key, when it made one and the key works


def runtime_path(settings: Settings) -> Path:
    return settings.data_path / RUNTIME_FILE


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _answers(url: str, key: str | None = None) -> bool:
    import httpx

    try:
        headers = {"X-API-Key": key} if key else {}
        return httpx.get(url, headers=headers, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def running_server(settings: Settings) -> Running | None:
    """The server this store's runtime file names, when its process is alive
    and answers; a file left by a server that died is ignored."""
    try:
        info = json.loads(runtime_path(settings).read_text(encoding="utf-8"))
        url, pid = str(info["url"]), info["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid) or not _answers(f"{url}/health"):
        return None
    key = info.get("key")
    usable = key if isinstance(key, str) and _answers(f"{url}/orders?limit=1", key) else None
    return Running(url=url, pid=int(pid), store=str(info.get("store", settings.sqlite_path)), key=usable)


def port_free(host: str, port: int) -> bool:
    """Whether uvicorn could bind: the same probe, SO_REUSEADDR as uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _write_runtime(settings: Settings, url: str, key: str | None, workers: int = 1) -> Path:
    """Where this server runs, for a second `oms serve` of the same store.
    Readable by the owner only: it holds this process's admin key, the
    same secret the store beside it already trusts its owner with. `pid` is
    the process that owns the server (with workers, their parent)."""
    path = runtime_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = {"pid": os.getpid(), "url": url, "store": settings.sqlite_path,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"), "key": key, "workers": workers}
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(info, out)
    return path


def _remove_runtime(path: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()


def cli_hint() -> str:
    """How to reach the CLI on this same store from any directory: the `oms`
    script beside this Python (the venv's, which is not on PATH), else
    `python -m common.cli`."""
    script = Path(sys.executable).with_name("oms")
    command = str(script) if os.access(script, os.X_OK) else f"{sys.executable} -m common.cli"
    hint = f"the oms CLI, on this store from any directory: {command} orders (or jobs, simulate, --help)"
    if sys.prefix != sys.base_prefix:
        hint += f"; `source {Path(sys.prefix) / 'bin' / 'activate'}` puts oms on PATH"
    return hint


def already_running(settings: Settings, host: str, port: int, say: Callable[[str], None]) -> bool:
    """A second `oms serve` (a second `scripts/run`) of a store that a server
    runs on says where that one is, with its key when it works, and starts
    nothing; a port taken by anything else is refused before a key is made."""
    running = running_server(settings)
    if running is not None:
        say(f"an OMS server is already running on {running.url} (pid {running.pid}, store {running.store}); "
            "not starting another")
        if running.key:
            say(f"local admin API key (of the running server): {running.key}")
        elif settings.api_keys:
            say("API keys: as configured in OMS_API_KEYS")
        else:
            say("use the local admin API key it printed when it started")
        say(cli_hint())
        return True
    if not port_free(host, port):
        raise ServeRefused(f"port {port} on {host} is in use by another program (no OMS server of the store "
                           f"{settings.sqlite_path} runs there): stop it, or pass --port with a free port")
    return False


def samples_dir() -> Path | None:
    """The bundled samples: in the package when installed, else at the repo root."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "samples", here.parents[2] / "samples"):
        if (candidate / "project-master.jsonl").is_file():
            return candidate
    return None


def with_local_admin(settings: Settings) -> tuple[Settings, str | None]:
    """Without configured API keys, a fresh admin key for this process only
    (never written anywhere)."""
    if settings.api_keys:
        return settings, None
    key = "oms-local-" + secrets.token_urlsafe(24)
    return settings.model_copy(update={"api_keys": {key: {"user": LOCAL_ADMIN, "roles": ["admin"]}}}), key


def load_samples(deps: Deps, folder: Path) -> dict[str, int]:
    """Projects, catalogue, stock and engineering events through the normal handlers."""
    from common.service.commands import IngestEngineeringEvents, decode_json
    from common.service.handlers.datasets import ingest_dataset_file
    from common.service.handlers.engineering import ingest_engineering_events
    from common.service.handlers.fixtures import load_fixture

    load_fixture(deps, "project-master", folder / "project-master.jsonl")
    load_fixture(deps, "item-catalog", folder / "item-catalog.jsonl")
    if (folder / "stock-snapshot.parquet").is_file():
        ingest_dataset_file(deps, "stock-snapshots", folder / "stock-snapshot.parquet")
    lines = (folder / "engineering-events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [decode_json(line) for line in lines if line.strip()]
    report = ingest_engineering_events(deps, IngestEngineeringEvents(events, channel="file",
                                                                     file_name="engineering-events.jsonl"))
    return dict(report.counts)


@dataclass
class Background:
    """The threads beside uvicorn; `stop()` ends them."""

    stop_event: threading.Event
    threads: list[threading.Thread]

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=5)


def start_background(deps: Deps, inbox_interval: float = 2.0) -> Background:
    from common.local.inbox import Inbox, dataset_ingest
    from common.local.jobs import allocation_job, outbox_loop, sla_job
    from common.local.scheduler import Scheduler

    stop = threading.Event()
    scheduler = Scheduler(clock=deps.clock.now)
    for name, schedule, factory in (("allocation", deps.settings.allocation_schedule, allocation_job),
                                    ("sla-sweep", deps.settings.sla_schedule, sla_job)):
        scheduler.add(name, schedule, factory(deps))
    loops: list[tuple[str, Callable[[], Any]]] = [("oms-scheduler", lambda: scheduler.loop(stop)),
                                                  ("oms-outbox", lambda: outbox_loop(deps, stop))]
    inbox = Inbox(deps.settings.data_path / "inbox", dataset_ingest(deps))
    inbox.ensure()
    loops.append(("oms-inbox", lambda: inbox.loop(stop, inbox_interval)))
    threads = [threading.Thread(target=target, name=name, daemon=True) for name, target in loops]
    for thread in threads:
        thread.start()
    return Background(stop, threads)


# ------------------------------------------------------------ HTTP workers
# `oms serve --workers N`: N processes serve HTTP on one listening socket, the
# parent runs everything else. The background loops (allocation and SLA
# schedule, outbox dispatch, inbox folders) run in the parent only, exactly
# once, as with one process: an outbox published by two dispatchers would
# reach the hub twice, an inbox file could be ingested twice. Each worker
# opens its own store connections (SQLite in WAL mode: readers in any
# process never wait for the writer; writers take the lock in turn, as the
# threads of one process do). The parent writes and removes server.json.


def prepare_http_worker(settings: Settings) -> None:
    """What an HTTP worker process does before it serves: logging, and its
    own dependencies (own store connections) for the routes. No background
    loop starts here."""
    from common.service.bootstrap import build, set_deps
    from common.telemetry import configure

    configure(settings)
    set_deps(build(settings))


def http_app() -> Any:
    """The app a worker serves (uvicorn's factory, by import string: the
    worker is a fresh process that imports it)."""
    from common.api.app import create_app

    return create_app()


class WorkerConfig(uvicorn.Config):
    """uvicorn's config, carrying the settings (the local admin key included)
    to each worker process (pickled, so it lives at module level), which
    builds its dependencies from them before it loads the app."""

    def __init__(self, oms_settings: Settings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.oms_settings = oms_settings

    def load(self) -> None:
        if not self.loaded:
            from common.service.bootstrap import tune_gc

            prepare_http_worker(self.oms_settings)
            tune_gc()  # as get_deps does where it builds the dependencies
        super().load()


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """N HTTP worker processes under uvicorn's supervisor (it restarts a
    worker that dies and stops them all on SIGINT/SIGTERM); returns when they
    have stopped."""
    config = WorkerConfig(settings, app="common.local.server:http_app", factory=True, host=host, port=port,
                          workers=workers, log_level="info")
    run_workers(config)


def run_workers(config: uvicorn.Config) -> None:
    """uvicorn's supervisor on a socket bound for it, as `uvicorn --workers`
    runs, but with TCP_NODELAY on every connection: uvicorn binds with
    protocol 0, and asyncio sets TCP_NODELAY only on connections whose socket
    says IPPROTO_TCP, so each answer waited for the client's delayed ACK
    (40 ms; 680 req/s at most, whatever the app)."""
    from uvicorn.supervisors import Multiprocess

    bound = config.bind_socket()
    socket_ = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    socket_.set_inheritable(True)
    try:
        Multiprocess(config, sockets=[socket_]).run()
    finally:
        socket_.close()


def serve(host: str = "127.0.0.1", port: int = 7071, samples: bool = False,
          say: Callable[[str], None] = print, settings: Settings | None = None, workers: int = 1) -> None:
    from common.api.app import create_app
    from common.config import get_settings
    from common.service.bootstrap import build, set_deps
    from common.telemetry import configure

    base = settings or get_settings()
    if workers > 1 and (base.store != "sqlite" or base.sqlite_path == ":memory:"):
        raise ServeRefused("--workers needs the embedded store in a file (each worker opens it): "
                           f"OMS_STORE={base.store}, OMS_SQLITE_PATH={base.sqlite_path}")
    if already_running(base, host, port, say):
        return
    if base.store != "sqlite":
        log.warning("oms serve runs on the embedded store; OMS_STORE=%s is used as configured", base.store)
    configured, key = with_local_admin(base)
    configure(configured)
    deps = build(configured)
    set_deps(deps)
    if samples:
        folder = samples_dir()
        if folder is None:
            say("no bundled samples found; starting without them")
        else:
            counts = load_samples(deps, folder)
            say(f"loaded samples from {folder}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v))
    background = start_background(deps)
    url = f"http://{host}:{port}/api"
    say(f"OMS API on {url}  (docs {url}/docs, store {configured.sqlite_path})")
    if key:
        say(f"local admin API key (this process only): {key}")
        say(f'  try: curl -H "X-API-Key: {key}" {url}/orders')
    else:
        say("API keys: as configured in OMS_API_KEYS")
    say(cli_hint())
    if workers > 1:
        say(f"{workers} HTTP worker processes; the schedule, outbox and inbox run in this one (pid {os.getpid()})")
    # A wildcard address listens everywhere; a client on this machine connects to loopback.
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    runtime = _write_runtime(configured, f"http://{f'[{local}]' if ':' in local else local}:{port}/api", key,
                             workers)
    if workers > 1:
        try:
            serve_workers(configured, host, port, workers)
        finally:
            _remove_runtime(runtime)
            background.stop()
            set_deps(None)
        return

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Here, not after run(): after a SIGTERM uvicorn re-raises the
            # signal once it has shut down, and the process ends there.
            try:
                await super().shutdown(sockets)
            finally:
                _remove_runtime(runtime)

    server = Server(uvicorn.Config(create_app(), host=host, port=port, log_level="info"))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        _remove_runtime(runtime)
        background.stop()
        set_deps(None)
    if not server.started:
        raise ServeRefused(f"the server could not start on {host}:{port} (see the log above)")
