"""Timer (`OMS_OUTBOX_REPUBLISH_SCHEDULE`, NCRONTAB) -> RepublishOutbox: the
order events the change feed did not deliver (its retry policy ran out and
its lease moved on) are published `OMS_OUTBOX_GRACE_MINUTES` later, in each
project's commit order."""

from __future__ import annotations

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.handlers.outbox import republish_outbox

bp = func.Blueprint()


@bp.function_name("outbox_republish")
@bp.timer_trigger(arg_name="timer", schedule="%OMS_OUTBOX_REPUBLISH_SCHEDULE%", run_on_startup=False,
                  use_monitor=True)
def outbox_republish(timer: func.TimerRequest) -> None:
    republish_outbox(get_deps())
