"""Quarantined inputs with their reasons, and trying one again."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query, Request

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import Continuation, correlation_id, paged, router
from common.api.schemas import IntakeResult, QuarantinePage, QuarantineReprocessOut
from common.service.commands import ConfirmDataset, ReprocessQuarantined
from common.service.handlers.datasets import NotReprocessable, confirm_dataset
from common.service.handlers.quarantine import reprocess_quarantined

api = router("quarantine")


@api.get("/quarantine", response_model=QuarantinePage, summary="Quarantined inputs, newest first")
def list_quarantine(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    status: Literal["open", "reprocessed", "discarded"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    continuation: Continuation = None,
    source: Annotated[str | None, Query(max_length=128, description="only this source's records")] = None,
) -> QuarantinePage:
    page = paged(lambda: deps.store.list_quarantine(status, limit, continuation, source=source or None))
    return QuarantinePage(items=page.items, continuation=page.continuation)


@api.post("/quarantine/{record_id}/reprocess", response_model=QuarantineReprocessOut,
          summary="Run a quarantined input through its handler again")
def reprocess(
    record_id: str, request: Request,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
) -> QuarantineReprocessOut:
    result = reprocess_quarantined(deps, ReprocessQuarantined(
        record_id=record_id, actor=identity.actor, correlation_id=correlation_id(request)))
    # Dataset rows come back as their job run ({"job_id", "counts"}), events as outcomes.
    jobs = [r["job_id"] for r in result.results if "outcome" not in r and r.get("job_id")]
    return QuarantineReprocessOut(record=result.record,
                                  results=[IntakeResult.model_validate(r) for r in result.results if "outcome" in r],
                                  job=deps.store.get_job(jobs[0]) if jobs else None)


@api.post("/quarantine/{record_id}/confirm", response_model=QuarantineReprocessOut,
          summary="Apply a master-data dump held because it would remove or deactivate too much")
def confirm(
    record_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
) -> QuarantineReprocessOut:
    try:
        job = confirm_dataset(deps, ConfirmDataset(record_id=record_id, actor=identity.actor))
    except NotReprocessable as error:
        missing = deps.store.get_quarantine(record_id) is None
        raise ProblemError(404 if missing else 409, str(error), kind="not-found" if missing else "conflict") \
            from error
    record = deps.store.get_quarantine(record_id)
    assert record is not None
    return QuarantineReprocessOut(record=record, results=[], job=job)
