"""What `GET /api/inventory/replenishment`, `oms replenishment list` and the
dashboard show of the replenishment requests: each request with the orders
it concerns, seen two ways:

- `short_orders`: the orders the last allocation run left short of this SKU
  in this warehouse (from its report: what blocked them then);
- `would_unblock`: the orders the next run would allocate once this
  request's quantity arrives, and not before (a what-if per open request:
  common/service/handlers/whatif.py; capped at UNBLOCK_LIMIT requests).

Reads only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from common.domain.replenishment import ReplenishmentRequest, RequestStatus, request_summary
from common.service.bootstrap import Deps
from common.service.handlers.allocation import JOB as ALLOCATION_JOB
from common.service.handlers.allocation import report_of
from common.service.handlers.whatif import StockOverride, unblocked_by

UNBLOCK_LIMIT = 50  # open requests given a what-if each; beyond, `would_unblock` is null
JOBS_SCANNED = 200  # recent job runs looked through for the last allocation run


class RequestView(BaseModel):
    request_id: str
    warehouse_id: str
    sku: str
    status: str
    quantity: int
    reorder_point: int
    target_level: int
    lead_time_days: int
    policy_source: str
    position: dict[str, int]
    opened_at: datetime
    due_at: datetime
    overdue: bool  # open past its lead time
    closed_at: datetime | None = None
    duration_seconds: float | None = None
    version: int
    short_orders: list[str] = Field(default_factory=list)
    would_unblock: list[str] | None = None


class ReplenishmentList(BaseModel):
    items: list[RequestView]
    open: int
    total: int  # requests matching the filters; `items` holds the first `limit` of them
    last_allocation_run: str | None = None
    notes: list[str] = Field(default_factory=list)


def last_allocation_shortfalls(deps: Deps) -> tuple[str | None, dict[tuple[str, str], list[str]]]:
    """The last real allocation run, and per (warehouse, SKU) the orders it left short of it."""
    job = next((j for j in deps.store.list_jobs(JOBS_SCANNED)
                if j.job == ALLOCATION_JOB and j.status == "succeeded" and not (j.source or "").endswith("dry-run")),
               None)
    if job is None:
        return None, {}
    report = report_of(job, deps)
    short = [o for o in report.orders if o.outcome == "short" and o.shortfall]
    orders = deps.store.get_orders([o.order_id for o in short])
    found: dict[tuple[str, str], list[str]] = {}
    for outcome in short:
        order = orders.get(outcome.order_id)
        if order is None or order.warehouse_id is None:
            continue
        for line in outcome.shortfall:
            found.setdefault((order.warehouse_id, line.sku), []).append(outcome.order_id)
    return job.job_id, found


def list_replenishment(deps: Deps, *, status: str | None = RequestStatus.OPEN.value, warehouse_id: str | None = None,
                       sku: str | None = None, unblock: bool = True, limit: int = 500) -> ReplenishmentList:
    requests = deps.store.replenishment_requests(warehouse_id=warehouse_id, sku=sku, status=status)
    now = deps.clock.now()
    run_id, shortfalls = last_allocation_shortfalls(deps)
    notes: list[str] = []
    open_ones = [r for r in requests if r.status == RequestStatus.OPEN]
    unblocked: dict[str, list[str]] = {}
    if unblock and open_ones:
        asked = open_ones[:UNBLOCK_LIMIT]
        if len(open_ones) > UNBLOCK_LIMIT:
            notes.append(f"would_unblock is given for the first {UNBLOCK_LIMIT} open requests")
        answers = unblocked_by(deps, [StockOverride(warehouse_id=r.warehouse_id, sku=r.sku, qty=r.quantity)
                                      for r in asked])
        unblocked = {r.request_id: ids for r, ids in zip(asked, answers, strict=True)}
    items = [_view(r, now, shortfalls.get(r.key, []) if r.status == RequestStatus.OPEN else [],
                   unblocked.get(r.request_id)) for r in requests]
    # Open first, the most urgent (earliest due) first; then the closed ones, newest first.
    items.sort(key=lambda v: (v.status != RequestStatus.OPEN.value, v.due_at.timestamp()
                              if v.status == RequestStatus.OPEN.value else -(v.closed_at or v.opened_at).timestamp()))
    return ReplenishmentList(items=items[:max(limit, 1)], open=len(open_ones), total=len(items),
                             last_allocation_run=run_id, notes=notes)


def _view(request: ReplenishmentRequest, now: datetime, short: list[str], unblocks: list[str] | None) -> RequestView:
    data: dict[str, Any] = request_summary(request)
    return RequestView.model_validate({
        **data, "position": dict(request.position),
        "overdue": request.status == RequestStatus.OPEN and request.due_at < now,
        "short_orders": sorted(short), "would_unblock": unblocks})
