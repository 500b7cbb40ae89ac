"""Logs are JSON lines carrying the correlation ids of the work they belong to."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from common import telemetry
from common.config import Settings
from common.service.bootstrap import Deps
from common.service.jobs import job_run
from common.telemetry import JsonFormatter, configure, correlate, current_ids


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    before_level, before_handlers = root.level, list(root.handlers)
    configure(Settings(OMS_LOG_FORMAT="json"), stream=stream, level="INFO", force=True)  # type: ignore[call-arg]
    try:
        yield stream
    finally:
        for handler in [h for h in root.handlers if h not in before_handlers]:
            root.removeHandler(handler)
        root.setLevel(before_level)
        telemetry._configured = False


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_log_lines_are_json_with_the_job_event_and_order_ids(deps: Deps, log_stream: io.StringIO) -> None:
    with job_run(deps, "ingest-engineering-events") as recorder, correlate(event_id="evt-1", order_id="P~S~NB~1"):
        logging.getLogger("oms.test").info("applied %s", "evt-1", extra={"outcome": "created"})
    logging.getLogger("oms.test").info("outside")

    lines = [x for x in _lines(log_stream) if x["logger"] == "oms.test"]
    inside, outside = lines
    assert inside["message"] == "applied evt-1"
    assert inside["level"] == "INFO"
    assert (inside["job_id"], inside["event_id"], inside["order_id"]) == (recorder.run.job_id, "evt-1", "P~S~NB~1")
    assert inside["outcome"] == "created"
    assert "time" in inside
    assert "job_id" not in outside and "event_id" not in outside


def test_nested_correlation_adds_and_then_restores_ids() -> None:
    with correlate(job_id="j-1"):
        with correlate(order_id="o-1"):
            assert current_ids() == {"job_id": "j-1", "order_id": "o-1"}
        assert current_ids() == {"job_id": "j-1"}
    assert current_ids() == {}


def test_an_exception_is_logged_in_the_same_json_line() -> None:
    try:
        raise ValueError("bad row")
    except ValueError:
        record = logging.LogRecord("oms.x", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "ERROR"
    assert "ValueError: bad row" in line["exception"]


def test_opentelemetry_stays_off_without_a_connection_string(log_stream: io.StringIO) -> None:
    assert telemetry._otel is False


def test_importing_telemetry_configures_nothing() -> None:
    import subprocess
    import sys

    code = ("import logging, common.telemetry as t; "
            "assert not t.is_configured(); assert logging.getLogger().handlers == []")
    subprocess.run([sys.executable, "-c", code], check=True)
