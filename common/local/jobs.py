"""What the local server runs on its own: the scheduled jobs (allocation, SLA
sweep) and the outbox dispatcher, each through the same handler as its
Function trigger, imported when first needed so a build without one still
serves (it says so once in the log)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from common.service.bootstrap import Deps

log = logging.getLogger("oms.local")


def allocation_job(deps: Deps) -> Callable[[], object] | None:
    try:
        from common.service.commands import RunAllocation
        from common.service.handlers.allocation import run_allocation
    except ImportError:
        log.warning("allocation runs are not available in this build: the schedule is skipped")
        return None
    return lambda: run_allocation(deps, RunAllocation(dry_run=False, mode="greedy", trigger="timer"))


def sla_job(deps: Deps) -> Callable[[], object] | None:
    try:
        from common.service.handlers.sla import sweep_sla
    except ImportError:
        log.warning("the SLA sweep is not available in this build: the schedule is skipped")
        return None
    return lambda: sweep_sla(deps)


def outbox_loop(deps: Deps, stop: threading.Event, interval: float = 1.0) -> None:
    """Publish the outbox (to Event Hub when configured, else the local sink)."""
    try:
        from common.service.handlers.outbox import dispatch_outbox
    except ImportError:
        log.warning("the outbox dispatcher is not available in this build")
        return
    while not stop.is_set():
        try:
            dispatch_outbox(deps)
        except Exception:
            log.exception("outbox dispatch failed; retrying")
            stop.wait(min(30.0, interval * 10))
        stop.wait(interval)
