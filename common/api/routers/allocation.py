"""Allocation runs on demand, and what a run did."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import Depends, Response

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import router
from common.api.schemas import AllocationRunIn, AllocationRunOut

api = router("allocation")


def _handlers() -> Any:
    try:
        from common.service.handlers import allocation  # type: ignore[attr-defined,unused-ignore]
    except ImportError as error:
        raise ProblemError(501, "allocation runs are not available in this build", kind="not-implemented") from error
    return allocation


def _command(module: Any) -> Any:
    command = getattr(module, "RunAllocation", None)
    if command is None:
        from common.service import commands

        command = getattr(commands, "RunAllocation", None)
    if command is None:
        raise ProblemError(501, "allocation runs are not available in this build", kind="not-implemented")
    return command


def jsonable(report: Any) -> dict[str, Any]:
    """A run report as plain JSON, whatever shape the handler returns it in."""
    if hasattr(report, "model_dump"):
        data: dict[str, Any] = report.model_dump(mode="json")
        return data
    if hasattr(report, "to_json"):
        return dict(report.to_json())
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return dataclasses.asdict(report)
    return dict(report)


@api.post("/allocation/runs", response_model=AllocationRunOut, status_code=201,
          summary="Run allocation now (201 with the run report)")
def run_allocation(
    body: AllocationRunIn, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
) -> AllocationRunOut:
    module = _handlers()
    command = _command(module)
    report = AllocationRunOut.model_validate(jsonable(
        module.run_allocation(deps, command(dry_run=body.dry_run, mode=body.mode, actor=identity.actor))))
    response.headers["Location"] = f"/api/allocation/runs/{report.run_id}"
    return report


@api.get("/allocation/runs/{run_id}", response_model=AllocationRunOut, summary="What an allocation run did")
def get_allocation_run(
    run_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> AllocationRunOut:
    module = _handlers()
    getter = getattr(module, "get_allocation_run", None)
    if getter is None:
        raise ProblemError(501, "allocation run reports are not available in this build", kind="not-implemented")
    report = getter(deps, run_id)
    if report is None:
        raise ProblemError(404, f"allocation run {run_id} not found", kind="not-found")
    return AllocationRunOut.model_validate(jsonable(report))
