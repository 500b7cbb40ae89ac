"""NCRONTAB schedules in-process, the way the Functions host fires timer
triggers: six fields, `second minute hour day month day-of-week`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from croniter import croniter

log = logging.getLogger("oms.local.scheduler")


def next_fire(expression: str, after: datetime) -> datetime:
    """The first time strictly after `after` that `expression` names. Six
    fields are NCRONTAB (seconds first); five are classic cron."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"{expression!r} is not an NCRONTAB expression (6 fields: second minute hour day "
                         "month day-of-week)")
    itr = croniter(expression, after, second_at_beginning=len(fields) == 6)
    fire: datetime = itr.get_next(datetime)
    return fire


@dataclass
class Job:
    name: str
    schedule: str
    run: Callable[[], object]
    next_at: datetime | None = None


@dataclass
class Scheduler:
    """Jobs run one at a time on the scheduler's thread; a failing job is
    logged and the others keep their schedule."""

    clock: Callable[[], datetime]
    jobs: list[Job] = field(default_factory=list)

    def add(self, name: str, schedule: str, run: Callable[[], object]) -> Job:
        job = Job(name, schedule, run, next_fire(schedule, self.clock()))
        self.jobs.append(job)
        log.info("scheduled %s (%s), first at %s", name, schedule, job.next_at)
        return job

    def run_due(self, now: datetime) -> list[str]:
        """Run every job whose time has come; returns the names that ran."""
        ran = []
        for job in self.jobs:
            if job.next_at is not None and job.next_at <= now:
                job.next_at = next_fire(job.schedule, now)
                ran.append(job.name)
                try:
                    job.run()
                except Exception:
                    log.exception("scheduled job %s failed", job.name)
        return ran

    def seconds_to_next(self, now: datetime) -> float:
        pending = [j.next_at for j in self.jobs if j.next_at is not None]
        if not pending:
            return 60.0
        return max(0.0, min((at - now).total_seconds() for at in pending))

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.run_due(self.clock())
            stop.wait(min(self.seconds_to_next(self.clock()), 60.0) + 0.01)
