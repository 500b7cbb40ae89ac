"""Timer (`OMS_SLA_SCHEDULE`, NCRONTAB) -> the sweeps: flag new SLA breaches,
alert on job runs running too long, apply or expire held warehouse events."""

from __future__ import annotations

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.handlers.sweeps import run_sweeps

bp = func.Blueprint()


@bp.function_name("sla_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%OMS_SLA_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sla_sweep(timer: func.TimerRequest) -> None:
    run_sweeps(get_deps())
