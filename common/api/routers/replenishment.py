"""Replenishment requests (docs/replenishment.md): what is requested, what
each open request would unblock, each request's audit trail, and an
evaluation on demand."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query
from pydantic import BaseModel

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import correlation_id, router
from common.api.schemas import AuditPage
from common.service.commands import EvaluateReplenishment
from common.service.handlers.replenishment import evaluate_replenishment
from common.service.handlers.replenishment_view import ReplenishmentList, list_replenishment

api = router("inventory")
Name = Annotated[str | None, Query(min_length=1, max_length=256)]


class EvaluationOut(BaseModel):
    trigger: str
    evaluated: int
    opened: int
    raised: int
    fulfilled: int
    conflicts: int
    opened_ids: list[str]
    raised_ids: list[str]
    fulfilled_ids: list[str]


@api.get("/inventory/replenishment", response_model=ReplenishmentList,
         summary="Replenishment requests, with the orders each open one would unblock")
def replenishment(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    status: Annotated[Literal["open", "fulfilled", "all"], Query()] = "open",
    warehouse_id: Name = None,
    sku: Name = None,
    unblock: Annotated[bool, Query(description="run a what-if per open request (would_unblock)")] = True,
    limit: Annotated[int, Query(ge=1, le=5000, description="at most this many requests (`total` counts all)")] = 500,
) -> ReplenishmentList:
    return list_replenishment(deps, status=None if status == "all" else status, warehouse_id=warehouse_id, sku=sku,
                              unblock=unblock, limit=limit)


@api.get("/inventory/replenishment/{request_id}/audit", response_model=AuditPage,
         summary="A replenishment request's audit trail, oldest first")
def replenishment_audit(
    request_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> AuditPage:
    entries = deps.store.order_audit(request_id) if request_id.startswith("@stock:") else []
    if not entries:
        raise ProblemError(404, f"replenishment request {request_id} not found", kind="not-found")
    return AuditPage(items=entries)


@api.post("/inventory/replenishment/evaluate", response_model=EvaluationOut,
          summary="Evaluate the reorder thresholds now (as the timer does)")
def evaluate(
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
    correlation: Annotated[str, Depends(correlation_id)],
) -> EvaluationOut:
    report = evaluate_replenishment(deps, EvaluateReplenishment("manual", correlation_id=correlation,
                                                                actor=identity.actor))
    return EvaluationOut.model_validate(report.to_json())
