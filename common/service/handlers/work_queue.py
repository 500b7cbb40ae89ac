"""The review console's work queue: orders filtered by what people look for
(state, project, market, kind, an SLA breach, time waiting), the longest
waiting first or by id, one page at a time, and how many there are per state.

Ages and breaches are the SLA clock of `common.domain.sla`: the time since an
order entered its status, against `OMS_SLA_HOURS` for that status. The store
filters them (`OrderQuery.entered_before`: per status, the latest entry time
that still qualifies), so a page costs the same on 100 or 100,000 orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from common.domain.models import Order, OrderStatus
from common.domain.sla import age_hours, breaches_of
from common.ports import OrderQuery, Page
from common.service.bootstrap import Deps

QueueSort = Literal["order_id", "waiting"]


@dataclass(frozen=True)
class QueueFilters:
    status: str | None = None
    project_id: str | None = None
    site_code: str | None = None
    market: str | None = None
    kind: str | None = None
    sla_breached: bool = False
    min_age_hours: float | None = None


@dataclass(frozen=True)
class QueueItem:
    order: Order
    age_hours: float
    sla_hours: float | None
    breaching: bool


def cutoffs(filters: QueueFilters, now: datetime, sla_hours: dict[str, float]) -> dict[str, datetime] | None:
    """Per status, the latest entry time an order may have to pass the age
    and breach filters (None: no such filter). A status without an SLA has no
    breaches, so asking for breaches leaves it out."""
    if not filters.sla_breached and filters.min_age_hours is None:
        return None
    statuses = [filters.status] if filters.status else [s.value for s in OrderStatus]
    found: dict[str, datetime] = {}
    for status in statuses:
        limits = []
        if filters.min_age_hours is not None:
            limits.append(filters.min_age_hours)
        if filters.sla_breached:
            sla = sla_hours.get(status)
            if not sla or sla <= 0:
                continue
            limits.append(sla)
        found[status] = now - timedelta(hours=max(limits))
    return found


def _query(deps: Deps, filters: QueueFilters, sort: str = "order_id", limit: int = 100,
           continuation: str | None = None) -> OrderQuery:
    return OrderQuery(status=filters.status, project_id=filters.project_id, site_code=filters.site_code,
                      market=filters.market, kind=filters.kind,
                      entered_before=cutoffs(filters, deps.clock.now(), deps.settings.sla_hours),
                      sort=sort, limit=limit, continuation=continuation)


def work_queue(deps: Deps, filters: QueueFilters, sort: QueueSort = "order_id", limit: int = 50,
               continuation: str | None = None) -> Page[QueueItem]:
    """One page of the queue; ValueError for a token this list did not hand out."""
    query = _query(deps, filters, sort="entered" if sort == "waiting" else "order_id", limit=limit,
                   continuation=continuation)
    page = deps.store.query_orders(query)
    now, sla = deps.clock.now(), deps.settings.sla_hours
    items = [QueueItem(order=o, age_hours=round(age_hours(o, now), 1), sla_hours=sla.get(o.status.value),
                       breaching=any(b.kind == "state_age" for b in breaches_of(o, now, sla)))
             for o in page.items]
    return Page(items=items, continuation=page.continuation)


def queue_counts(deps: Deps, filters: QueueFilters) -> dict[str, int]:
    """Orders per state under every filter but the state itself (the queue
    shows each state's count beside the one picked); every state listed."""
    counts = deps.store.count_orders(_query(deps, QueueFilters(
        project_id=filters.project_id, site_code=filters.site_code, market=filters.market, kind=filters.kind,
        sla_breached=filters.sla_breached, min_age_hours=filters.min_age_hours)))
    return {s.value: counts.get(s.value, 0) for s in OrderStatus}
