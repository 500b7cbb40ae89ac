"""`oms simulate` at scale: python bench/simulate.py [PROJECTS] [DAYS]
(default 2000 x 30). Prints wall and CPU time, events per second, the
machine's load and whether every invariant held, on a fresh SQLite store
and data folder (the dataset snapshots too) under bench/.data/.

A snapshot left by an earlier run of the same size made the master's delta
say "unchanged" against a fresh store: no project written, every design
parked, no order made, and the invariants held over nothing. The folder is
now removed first, and a run that made no order says so."""

from __future__ import annotations

import os
import resource
import shutil
import sys
import time
from pathlib import Path

from common.adapters.clock import FixedClock
from common.config import Settings
from common.service.bootstrap import build
from common.simulate import START, CountingNotifier, Simulation


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    projects = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    data = Path(__file__).resolve().parent / ".data" / f"simulate-{projects}x{days}"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    deps = build(Settings(OMS_SQLITE_PATH=str(data / "oms.db"), OMS_DATA_DIR=str(data)),
                 clock=FixedClock(at=START))
    sim = Simulation(deps, projects, days, seed=7)
    deps.notifier = CountingNotifier(sim.summary)
    started, cpu = time.perf_counter(), _cpu()
    summary = sim.run()
    orders = sum(summary.orders_by_state.values())
    load = os.getloadavg()
    print(f"simulate {projects} projects x {days} days: {time.perf_counter() - started:.1f} s wall, "
          f"{_cpu() - cpu:.1f} s CPU, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"{sum(summary.events.values())} events ({summary.events_per_second:,.0f}/s), "
          f"{orders} orders {summary.orders_by_state}, "
          f"fill rate {summary.fill_rate:.1%}, SLA breaches flagged {summary.sla_flagged}, "
          f"invariants {'hold' if not summary.violations else summary.violations[:3]}"
          f"{'' if orders else ' (NO ORDER MADE: nothing was checked)'}; "
          f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
