"""`oms simulate` at scale: python bench/simulate.py [PROJECTS] [DAYS]
(default 2000 x 30). Prints wall time, events per second and whether every
invariant held, on a fresh SQLite file under bench/.data/."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common.adapters.clock import FixedClock
from common.config import Settings
from common.service.bootstrap import build
from common.simulate import START, CountingNotifier, Simulation


def main() -> None:
    projects = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    data = Path(__file__).resolve().parent / ".data"
    data.mkdir(exist_ok=True)
    db = data / f"simulate-{projects}x{days}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    deps = build(Settings(OMS_SQLITE_PATH=str(db), OMS_DATA_DIR=str(data)),  # type: ignore[call-arg]
                 clock=FixedClock(at=START))
    sim = Simulation(deps, projects, days, seed=7)
    deps.notifier = CountingNotifier(sim.summary)
    started = time.perf_counter()
    summary = sim.run()
    print(f"simulate {projects} projects x {days} days: {time.perf_counter() - started:.1f} s wall, "
          f"{sum(summary.events.values())} events ({summary.events_per_second:,.0f}/s), "
          f"{sum(summary.orders_by_state.values())} orders {summary.orders_by_state}, "
          f"fill rate {summary.fill_rate:.1%}, SLA breaches flagged {summary.sla_flagged}, "
          f"invariants {'hold' if not summary.violations else summary.violations[:3]}")


if __name__ == "__main__":
    main()
