"""EventPublisher for the embedded mode: appends each CloudEvent as one JSON
line to OMS_DATA_DIR/outbox/order-events.jsonl (what Event Hub would carry)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SINK_FILE = Path("outbox") / "order-events.jsonl"


class LocalSinkPublisher:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> LocalSinkPublisher:
        return cls(Path(data_dir) / SINK_FILE)

    def publish(self, events: Sequence[dict[str, Any]]) -> None:
        if not events:
            return
        lines = "".join(json.dumps(event, separators=(",", ":"), sort_keys=True) + "\n" for event in events)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as sink:
                sink.write(lines)
                sink.flush()
                os.fsync(sink.fileno())

    def read(self) -> list[dict[str, Any]]:
        """Every event published so far (tests, `oms` diagnostics)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def close(self) -> None:
        """Nothing held open between publishes."""
