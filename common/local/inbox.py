"""Inbox folders: one per Blob container under `OMS_DATA_DIR/inbox/`, polled
for Parquet drops, each handed to the same dataset ingestion as the Blob
trigger and then moved to `done/` or `failed/` beside it.

A file is moved into `processing/` before it is read: a file that takes the
process down (a memory bomb, a crash) is found there at the next start and
moved to `failed/`, never read again by itself, so a bad file never blocks a
start. Drop it again (or `oms ingest` it) once it is fixed."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.service.handlers.datasets import ingest_dataset_file

log = logging.getLogger("oms.local.inbox")

CONTAINERS = ("project-master", "item-catalog", "stock-snapshots", "reorder-policy")

# (container, path) -> True when the file was ingested, False when it was rejected.
Ingest = Callable[[str, Path], bool]


@dataclass
class Inbox:
    root: Path
    ingest: Ingest
    containers: tuple[str, ...] = CONTAINERS
    _sizes: dict[Path, int] = field(default_factory=dict)

    def ensure(self) -> None:
        for container in self.containers:
            for sub in ("", "done", "failed", "processing"):
                (self.root / container / sub).mkdir(parents=True, exist_ok=True)

    def recover(self) -> list[tuple[str, str]]:
        """Files a crashed process left in `processing/` go to `failed/`."""
        self.ensure()
        moved = []
        for container in self.containers:
            for path in sorted((self.root / container / "processing").iterdir()):
                if path.is_file():
                    shutil.move(str(path), str(_free(self.root / container / "failed", path)))
                    log.error("inbox: %s/%s was being processed when the process stopped; moved to failed/ "
                              "(drop it again once it is fixed)", container, path.name)
                    moved.append((container, path.name))
        return moved

    def _ready(self, path: Path) -> bool:
        """A file counts once its size held still for one poll (a copy in progress grows)."""
        size = path.stat().st_size
        previous = self._sizes.get(path)
        self._sizes[path] = size
        return previous == size

    def poll_once(self, settle: bool = True) -> list[tuple[str, str, str]]:
        """Process what is ready; returns (container, file, "done"|"failed")."""
        self.ensure()
        handled = []
        for container in self.containers:
            folder = self.root / container
            for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
                if path.suffix in (".tmp", ".part") or (settle and not self._ready(path)):
                    continue
                self._sizes.pop(path, None)
                working = folder / "processing" / path.name
                shutil.move(str(path), str(working))  # out of the way first: see the module docstring
                try:
                    ok = self.ingest(container, working)
                except Exception:
                    log.exception("inbox: %s/%s failed", container, path.name)
                    ok = False
                outcome = "done" if ok else "failed"
                shutil.move(str(working), str(_free(folder / outcome, working)))
                log.info("inbox: %s/%s -> %s", container, path.name, outcome)
                handled.append((container, path.name, outcome))
        return handled

    def loop(self, stop: threading.Event, interval: float = 2.0) -> None:
        self.recover()
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("inbox poll failed")
            stop.wait(interval)


def _free(folder: Path, path: Path) -> Path:
    """`folder/<name>`, or a name that is not taken there yet."""
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}.{n}{path.suffix}"
        n += 1
    return target


def dataset_ingest(deps: Any) -> Ingest:
    """The dataset handler, as the Blob triggers call it."""

    def ingest(container: str, path: Path) -> bool:
        job = ingest_dataset_file(deps, container, path, channel="inbox")
        return bool(job.status == "succeeded" and not job.details.get("rejected"))

    return ingest
