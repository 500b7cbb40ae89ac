"""Running `oms`: the installed console script in a working folder of its
own (`oms`), or its `main` in this process on the deps a test set (`run`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common.cli import main

OMS = Path(sys.executable).with_name("oms")


def oms(workdir: Path, *args: str, columns: int = 200, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`oms *args` on the embedded store of `workdir`, `columns` wide, with `env` on top."""
    env = {**os.environ, "OMS_STORE": "sqlite", "OMS_SQLITE_PATH": str(workdir / "oms.db"),
           "OMS_DATA_DIR": str(workdir / "data"), "COLUMNS": str(columns), "NO_COLOR": "1", **(env or {})}
    command = [str(OMS)] if OMS.exists() else [sys.executable, "-m", "common.cli"]
    return subprocess.run([*command, *args], cwd=cwd or workdir, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def run(argv: list[str]) -> int:
    """`main(argv)`'s exit status."""
    try:
        main(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0
