"""A large dump is never silent: rows read as each batch is read, rows
written as each chunk is written, through the handler and at the CLI's
terminal (the bars `oms ingest events` and `oms simulate` show too)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from common.service.bootstrap import Deps
from common.service.handlers.datasets import WRITE_CHUNK, ingest_dataset_file
from tests.ingest.conftest import master_table, project_row

ROWS = 2 * WRITE_CHUNK + 500


def _master(path: Path) -> Path:
    pq.write_table(master_table([project_row(n) for n in range(ROWS)]), path, row_group_size=4096)
    return path


def test_ingesting_a_dump_reports_rows_read_then_rows_written_up_to_the_totals(deps: Deps, tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []

    job = ingest_dataset_file(deps, "master", _master(tmp_path / "master.parquet"),
                              on_progress=lambda stage, done, total: seen.append((stage, done, total)))

    assert job.status == "succeeded" and job.counts["new"] == ROWS
    reading = [(done, total) for stage, done, total in seen if stage == "reading"]
    writing = [(done, total) for stage, done, total in seen if stage == "writing"]
    assert reading[-1] == (ROWS, ROWS) and writing[-1] == (ROWS, ROWS)
    assert [done for done, _ in writing] == [WRITE_CHUNK, 2 * WRITE_CHUNK, ROWS]  # one report per chunk
    assert [stage for stage, _, _ in seen].index("writing") > len(reading) - 1  # read first, then write


def test_oms_ingest_master_shows_reading_and_writing_bars_at_a_terminal(tmp_path: Path) -> None:
    path = _master(tmp_path / "big.parquet")
    env = {**os.environ, "OMS_SQLITE_PATH": str(tmp_path / "oms.db"), "OMS_DATA_DIR": str(tmp_path / "data"),
           "COLUMNS": "120", "NO_COLOR": "1", "TERM": "xterm"}
    main, child = pty.openpty()  # stderr is a terminal: the bars are on
    process = subprocess.Popen([sys.executable, "-c", "from common.cli import main; main()", "ingest", "master",
                                str(path)], stdout=subprocess.PIPE, stderr=child, env=env, cwd=tmp_path)
    os.close(child)
    shown = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    os.close(main)
    assert process.wait(timeout=60) == 0
    text = shown.decode(errors="replace")
    assert "reading big.parquet" in text and "writing big.parquet" in text, text[-2000:]
    assert f"{ROWS}/{ROWS}" in text
