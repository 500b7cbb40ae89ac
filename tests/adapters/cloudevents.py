"""What a structured-mode CloudEvents 1.0 JSON event must hold (the spec's
required and typed attributes), checked without a CloudEvents library."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

_NAME = re.compile(r"^[a-z0-9]{1,20}$")


def problems(event: dict[str, Any]) -> list[str]:
    out = []
    for attr in ("specversion", "id", "source", "type"):
        if not isinstance(event.get(attr), str) or not event[attr]:
            out.append(f"{attr} must be a non-empty string")
    if event.get("specversion") != "1.0":
        out.append("specversion must be 1.0")
    for name in event:
        if name != "data" and not _NAME.match(name):
            out.append(f"attribute name {name!r} is not lower-case alphanumeric")
    if "time" in event:
        try:
            datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        except ValueError:
            out.append("time is not RFC 3339")
    if "data" in event and event.get("datacontenttype", "application/json") != "application/json":
        out.append("data is JSON but datacontenttype says otherwise")
    return out
