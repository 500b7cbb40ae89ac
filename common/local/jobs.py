"""What the local server runs on its own: the scheduled jobs (allocation, SLA
sweep) and the outbox dispatcher, each through the same handler as its
Function trigger."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from common.service.bootstrap import Deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import run_scheduled_allocation
from common.service.handlers.outbox import dispatch_outbox
from common.service.handlers.sweeps import run_sweeps

log = logging.getLogger("oms.local")


def allocation_job(deps: Deps) -> Callable[[], object]:
    return lambda: run_scheduled_allocation(deps, RunAllocation(dry_run=False, mode="greedy", trigger="timer"))


def sla_job(deps: Deps) -> Callable[[], object]:
    return lambda: run_sweeps(deps)


def outbox_loop(deps: Deps, stop: threading.Event, interval: float = 1.0) -> None:
    """Publish the outbox (to Event Hub when configured, else the local sink)."""
    while not stop.is_set():
        try:
            dispatch_outbox(deps)
        except Exception:
            log.exception("outbox dispatch failed; retrying")
            stop.wait(min(30.0, interval * 10))
        stop.wait(interval)
