"""Notifier adapters. The log notifier is the default; SMTP and webhook
adapters join it when their settings are present."""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("oms.notify")


class LogNotifier:
    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        log.log(logging.ERROR if level == "error" else logging.INFO, "%s | %s", subject,
                json.dumps(data or {}, default=str, sort_keys=True))


class MemoryNotifier:
    """Keeps what it was told (tests)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        self.sent.append({"subject": subject, "body": body, "level": level, "data": data or {}})
