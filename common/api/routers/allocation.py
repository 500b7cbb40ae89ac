"""Allocation runs on demand, and what a run did."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Response

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import router
from common.api.schemas import AllocationRunIn, AllocationRunOut
from common.service.commands import RunAllocation
from common.service.handlers import allocation

api = router("allocation")

NEEDS_BODY = ('an allocation run needs a JSON body saying whether it is a dry run: {"dry_run": false} to allocate '
              'and release, {"dry_run": true} to see what would happen (optional "mode": "greedy" or "optimal")')


# The body is optional to FastAPI so that its absence gets our own 422 (NEEDS_BODY);
# the document says what the route wants: a body, with dry_run.
_BODY_REQUIRED = {"requestBody": {"required": True}}


@api.post("/allocation/runs", response_model=AllocationRunOut, status_code=201, openapi_extra=_BODY_REQUIRED,
          summary="Run allocation now (201 with the run report); the body must say dry_run")
def run_allocation(
    response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
    body: Annotated[AllocationRunIn | None, Body()] = None,
) -> AllocationRunOut:
    if body is None:
        raise ProblemError(422, NEEDS_BODY, errors=[{"loc": ["body"], "msg": NEEDS_BODY, "type": "missing"}])
    cmd = RunAllocation(dry_run=body.dry_run, mode=body.mode, actor=identity.actor, trigger="http")
    report = AllocationRunOut.model_validate(allocation.run_allocation(deps, cmd).model_dump(mode="json"))
    response.headers["Location"] = f"/api/allocation/runs/{report.run_id}"
    return report


@api.get("/allocation/runs/{run_id}", response_model=AllocationRunOut, summary="What an allocation run did")
def get_allocation_run(
    run_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> AllocationRunOut:
    report = allocation.get_allocation_run(deps, run_id)
    if report is None:
        raise ProblemError(404, f"allocation run {run_id} not found", kind="not-found")
    return AllocationRunOut.model_validate(report.model_dump(mode="json"))
