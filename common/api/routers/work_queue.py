"""The review console's work queue: orders by state, project, market, kind,
SLA breach and time waiting, sorted, paged with continuation tokens; and how
many orders each state holds under the same filters."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Query

from common.api.auth import Identity
from common.api.console_schemas import QueueCounts, QueueItemOut, QueuePage
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import router
from common.domain.models import OrderKind, OrderStatus
from common.service.handlers.work_queue import QueueFilters, QueueSort, queue_counts, work_queue

api = router("work queue")

Text = Annotated[str | None, Query(max_length=128)]


def filters(
    project_id: Text = None,
    site_code: Text = None,
    market: Text = None,
    kind: OrderKind | None = None,
    sla_breached: Annotated[bool, Query(description="only orders in their state longer than its SLA "
                                                    "(OMS_SLA_HOURS)")] = False,
    min_age_hours: Annotated[float | None, Query(ge=0, le=100_000,
                                                 description="only orders in their state longer than this")] = None,
) -> QueueFilters:
    """The filters the queue and its counts share (every one but the state)."""
    return QueueFilters(project_id=project_id or None, site_code=site_code or None, market=market or None,
                        kind=kind.value if kind else None, sla_breached=sla_breached, min_age_hours=min_age_hours)


Filters = Annotated[QueueFilters, Depends(filters)]


@api.get("/queue", response_model=QueuePage, summary="The work queue: orders filtered, sorted and paged")
def queue(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    shared: Filters,
    status: OrderStatus | None = None,
    sort: Annotated[QueueSort, Query(description="order_id, or waiting: the longest in its state first")] = "order_id",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    continuation: Annotated[str | None, Query(max_length=1024)] = None,
) -> QueuePage:
    try:
        page = work_queue(deps, replace(shared, status=status.value if status else None), sort=sort, limit=limit,
                          continuation=continuation)
    except ValueError as error:  # a token this list (with this sort) did not hand out
        raise ProblemError(422, "the continuation token is not valid", kind="validation-error",
                           errors=[{"loc": ["query", "continuation"], "msg": "not a continuation token",
                                    "type": "invalid_continuation"}]) from error
    return QueuePage(items=[QueueItemOut.of_item(i) for i in page.items], continuation=page.continuation)


@api.get("/queue/counts", response_model=QueueCounts, summary="Orders per state under the queue's other filters")
def counts(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    shared: Filters,
) -> QueueCounts:
    found = queue_counts(deps, shared)
    return QueueCounts(counts=found, total=sum(found.values()))
