"""The optimal solver writes nothing on stdout: `oms allocate --mode optimal
--json` and anything piping the CLI's output read only what the OMS prints.
HiGHS prints its banner once per process, from C, when the first solver is
made, so each check runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SOLVE = """
from common.domain.allocation import Demand, optimal
demands = [Demand("big", "W1", {"A": 10}), Demand("s1", "W1", {"A": 5}), Demand("s2", "W1", {"A": 5})]
print("allocated", sorted(optimal(demands, {("W1", "A"): 10}).allocated))
"""


def test_the_optimal_solver_prints_nothing_on_stdout_not_even_its_banner() -> None:
    done = subprocess.run([sys.executable, "-c", SOLVE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "allocated ['s1', 's2']\n"


def test_output_printed_around_the_first_solve_still_reaches_stdout_in_order() -> None:
    script = 'print("before", flush=True)\n' + SOLVE + 'print("after")\n'
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout == "before\nallocated ['s1', 's2']\nafter\n"
