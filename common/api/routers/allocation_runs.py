"""The recent allocation runs with their counts (the console's allocation
page); one run's report is `GET /api/allocation/runs/{run_id}`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from common.api.auth import Identity
from common.api.console_schemas import AllocationRunList, AllocationRunSummary
from common.api.deps import Deps, Role, provide_deps, require
from common.api.routers.common import router
from common.service.handlers.allocation import JOB

api = router("allocation")

# Runs are found among the most recent job runs (ingestion and sweeps run
# too): this many are looked at, whatever `limit` asks.
WINDOW = 500


@api.get("/allocation/runs", response_model=AllocationRunList, summary="Recent allocation runs, newest first")
def list_runs(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> AllocationRunList:
    runs = [job for job in deps.store.list_jobs(WINDOW) if job.job == JOB][:limit]
    return AllocationRunList(items=[AllocationRunSummary.of(job) for job in runs])
