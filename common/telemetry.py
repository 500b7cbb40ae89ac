"""Telemetry: structured JSON logs with correlation ids, and OpenTelemetry
to Application Insights when a connection string is set.

The correlation ids (`event_id`, `order_id`, `job_id`) live in context
variables: the job recorder and the handlers bind them with `correlate`,
and every log record written meanwhile carries them. `configure` is called
once per process by the entry points (CLI, `oms serve`, the function app's
first invocation); importing this module does nothing.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from common.config import Settings

CORRELATION_IDS = ("event_id", "order_id", "job_id")

_ids: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"oms_{name}", default=None) for name in CORRELATION_IDS
}

_lock = threading.Lock()
_configured = False
_otel = False

# Attributes every LogRecord has; anything else passed in `extra` is logged as a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def current_ids() -> dict[str, str]:
    return {name: value for name, var in _ids.items() if (value := var.get()) is not None}


@contextmanager
def correlate(**ids: str | None) -> Iterator[None]:
    """Bind correlation ids for the block (nested blocks add to the outer ones)."""
    tokens = [(_ids[name], _ids[name].set(value)) for name, value in ids.items()
              if name in _ids and value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class CorrelationFilter(logging.Filter):
    """Copies the bound correlation ids onto each record (so any formatter,
    and the OpenTelemetry handler, sees them as attributes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_ids().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the correlation
    ids, any `extra` fields, and the exception when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CORRELATION_IDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def json_handler(stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(CorrelationFilter())
    return handler


def configure(settings: Settings | None = None, *, stream: IO[str] | None = None, level: str | None = None,
              force: bool = False) -> None:
    """Set up logging for this process, once (later calls do nothing unless
    `force`). JSON lines unless `OMS_LOG_FORMAT=text`; OpenTelemetry when
    `APPLICATIONINSIGHTS_CONNECTION_STRING` is set."""
    global _configured
    with _lock:
        if _configured and not force:
            return
        if settings is None:
            from common.config import get_settings

            settings = get_settings()
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_oms", False)]:
            root.removeHandler(handler)
        if settings.log_format == "json":
            handler = json_handler(stream)
        else:
            handler = logging.StreamHandler(stream or sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            handler.addFilter(CorrelationFilter())
        handler._oms = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel((level or settings.log_level).upper())
        # The Azure SDKs log every request and response at INFO: in the
        # Functions host that floods Application Insights with HTTP lines.
        logging.getLogger("azure").setLevel(max(logging.WARNING, root.level))
        if settings.appinsights_connection_string:
            _configure_otel(settings.appinsights_connection_string)
        _configured = True


def _configure_otel(connection_string: str) -> None:
    global _otel
    if _otel:
        return
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor
    except ImportError:
        logging.getLogger("oms.telemetry").warning(
            "APPLICATIONINSIGHTS_CONNECTION_STRING is set but azure-monitor-opentelemetry is not installed")
        return
    configure_azure_monitor(connection_string=connection_string, logger_name="oms")
    for handler in logging.getLogger("oms").handlers:
        handler.addFilter(CorrelationFilter())
    _otel = True


def is_configured() -> bool:
    return _configured
