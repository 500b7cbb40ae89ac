"""`oms ingest` end to end: the installed console script on the bundled
samples, in a fresh working directory with its own embedded store."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.helpers.cli import oms


def counts(output: str) -> dict[str, int]:
    """The job-run table's rows: `│ name │ value │`."""
    return {m[1]: int(m[2]) for m in re.finditer(r"[│|]\s*([a-z_]+)\s*[│|]\s*(\d+)\s*[│|]", output)}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for dataset, name in (("master", "project-master.jsonl"), ("catalog", "item-catalog.jsonl")):
        done = oms(tmp_path, "ingest", dataset, str(SAMPLES / name))
        assert done.returncode == 0, done.stderr
    return tmp_path


def test_ingesting_the_sample_events_prints_the_job_counts(workdir: Path) -> None:
    done = oms(workdir, "ingest", "events", str(SAMPLES / "engineering-events.jsonl"))

    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    assert counts(done.stdout) == {"created": 3, "failed": 0, "modified": 3, "parked": 1, "quarantined": 5,
                                   "received": 14, "skipped": 2, "skipped_duplicate": 1, "skipped_stale": 1}
    listed = oms(workdir, "orders")
    assert listed.returncode == 0
    assert "orders (3)" in listed.stdout


def test_ingesting_the_same_file_again_skips_everything_valid_as_duplicate(workdir: Path) -> None:
    first = oms(workdir, "ingest", "events", str(SAMPLES / "engineering-events.jsonl"))
    assert first.returncode == 0, first.stderr

    again = oms(workdir, "ingest", "events", str(SAMPLES / "engineering-events.jsonl"))

    assert again.returncode == 0, again.stderr
    assert counts(again.stdout) == {"created": 0, "failed": 0, "modified": 0, "parked": 0, "quarantined": 5,
                                    "received": 14, "skipped": 9, "skipped_duplicate": 9}


def test_a_missing_file_exits_2_with_a_one_line_reason(tmp_path: Path) -> None:
    done = oms(tmp_path, "ingest", "events", str(tmp_path / "nope.jsonl"))

    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "nope.jsonl" in lines[0] and "no such file" in lines[0]
    assert "Traceback" not in done.stderr + done.stdout


def test_an_unknown_dataset_is_a_usage_error_without_a_traceback(tmp_path: Path) -> None:
    done = oms(tmp_path, "ingest", "nonsense", str(SAMPLES / "engineering-events.jsonl"))

    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
