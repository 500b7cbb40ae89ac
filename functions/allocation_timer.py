"""Timer (`OMS_ALLOCATION_SCHEDULE`, NCRONTAB) -> RunAllocation.

A timer trigger runs as a singleton across the app's instances (the host
takes a blob lease), so two scheduled runs never overlap; a run started over
HTTP or the CLI meanwhile holds the allocation lease (common/service/leases.py)
and the tick is skipped, not failed.
"""

from __future__ import annotations

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import run_scheduled_allocation

bp = func.Blueprint()


@bp.function_name("allocation_run")
@bp.timer_trigger(arg_name="timer", schedule="%OMS_ALLOCATION_SCHEDULE%", run_on_startup=False, use_monitor=True)
def allocation_run(timer: func.TimerRequest) -> None:
    deps = get_deps()
    run_scheduled_allocation(deps, RunAllocation(trigger="timer"))
