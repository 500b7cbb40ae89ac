"""The periodic sweep (timer `OMS_SLA_SCHEDULE`, and the local scheduler):
flag SLA breaches, apply or expire warehouse events held on orders, and
evaluate the reorder thresholds (replenishment)."""

from __future__ import annotations

from common.domain.models import JobRun
from common.service.bootstrap import Deps
from common.service.handlers.replenishment import sweep_replenishment
from common.service.handlers.sla import sweep_sla
from common.service.handlers.warehouse import sweep_held_events


def run_sweeps(deps: Deps) -> JobRun:
    """Each sweep is a job run of its own; a failing one does not stop the other."""
    try:
        return sweep_sla(deps)
    finally:
        try:
            sweep_held_events(deps)
        finally:
            sweep_replenishment(deps)
