"""`oms` usage errors (CONTRACT.md: CLI): exit status 2 and a one-line
reason on stderr, never a traceback, even where the console is narrow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OMS = Path(sys.executable).with_name("oms")


def oms(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A narrow console: a long reason must still be one line.
    env = {**os.environ, "OMS_STORE": "sqlite", "OMS_SQLITE_PATH": str(workdir / "oms.db"),
           "OMS_DATA_DIR": str(workdir / "data"), "COLUMNS": "50", "NO_COLOR": "1"}
    command = [str(OMS)] if OMS.exists() else [sys.executable, "-m", "common.cli"]
    return subprocess.run([*command, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.mark.parametrize("args", [
    (),
    ("no-such-command",),
    ("allocate", "unexpected-argument"),
    ("allocate", "--dry-run=yes"),
    ("allocate", "--mode", "fastest"),
    ("ingest", "parquet", "file.parquet"),
    ("orders", "--status", "Shipped"),
    ("orders", "--limit", "0"),
    ("jobs", "--limit", "-1"),
], ids=lambda args: " ".join(args) or "no-arguments")
def test_a_usage_error_exits_2_with_a_one_line_reason(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = oms(tmp_path, *args)

    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("oms: ") and len(lines[0]) > len("oms: ")
