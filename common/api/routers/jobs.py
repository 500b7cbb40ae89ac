"""Recent job runs with their counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.routers.common import router
from common.api.schemas import JobPage

api = router("jobs")


@api.get("/jobs", response_model=JobPage, summary="Recent job runs, newest first")
def list_jobs(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JobPage:
    return JobPage(items=deps.store.list_jobs(limit))
