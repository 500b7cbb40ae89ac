"""Timer (`OMS_SLA_SCHEDULE`, NCRONTAB) -> SweepSla: flag new SLA breaches,
alert on job runs running too long."""

from __future__ import annotations

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.handlers.sla import sweep_sla
from common.telemetry import configure

bp = func.Blueprint()


@bp.function_name("sla_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%OMS_SLA_SCHEDULE%", run_on_startup=False, use_monitor=True)
def sla_sweep(timer: func.TimerRequest) -> None:
    deps = get_deps()
    configure(deps.settings)
    sweep_sla(deps)
