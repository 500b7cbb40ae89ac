"""`oms serve`: uvicorn with the API on the embedded store, plus the schedule,
the outbox dispatcher and the inbox folders on background threads."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.config import Settings
from common.service.bootstrap import Deps

log = logging.getLogger("oms.local")

LOCAL_ADMIN = "local-admin"


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


def serve(host: str = "127.0.0.1", port: int = 7071, samples: bool = False,
          say: Callable[[str], None] = print, settings: Settings | None = None) -> None:
    import uvicorn

    from common.api.app import create_app
    from common.config import get_settings
    from common.service.bootstrap import build, set_deps
    from common.telemetry import configure

    base = settings or get_settings()
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
    try:
        uvicorn.run(create_app(), host=host, port=port, log_level="info")
    finally:
        background.stop()
        set_deps(None)
