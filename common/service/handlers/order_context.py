"""What surrounds one order, for the people reviewing it: the project master
facts it is ranked by, whether engineering has cleared its site, the stock it
holds, the events it sent, the last allocation run's word on it, and the
orders that follow it (a return's follow-up, a delta or supplemental order).

The last allocation is found through the order's own audit trail: an
allocation run writes `allocate`, `allocation_short` or `allocation_reject`
with the run id as correlation id, and the run's report holds the order's
explanation (rank, shortfall per SKU, the orders that took the stock).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.domain.eligibility import Clearance
from common.domain.models import Order, OutboxEvent, Project, Reservation, Stream
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.handlers.allocation import get_allocation_run
from common.service.paging import every

ALLOCATION_ACTIONS = frozenset({"allocate", "allocation_short", "allocation_reject"})


@dataclass(frozen=True)
class LastAllocation:
    run_id: str
    at: datetime
    action: str
    reason: str | None
    explanation: dict[str, Any] | None  # the order's line of the run's report, when the report is kept


@dataclass
class OrderContext:
    order: Order
    project: Project | None
    qualifies: bool
    why_not_qualifying: str | None
    stream: Stream | None
    cleared: bool
    why_not_cleared: str | None
    reservation: Reservation | None
    events: list[OutboxEvent]
    last_allocation: LastAllocation | None
    followers: list[Order] = field(default_factory=list)


def last_allocation(deps: Deps, order_id: str) -> LastAllocation | None:
    entries = [e for e in deps.store.order_audit(order_id) if e.action in ALLOCATION_ACTIONS and e.correlation_id]
    if not entries:
        return None
    entry = entries[-1]
    run_id = entry.correlation_id or ""
    report = get_allocation_run(deps, run_id)
    line = next((o for o in report.orders if o.order_id == order_id), None) if report is not None else None
    return LastAllocation(run_id=run_id, at=entry.at, action=entry.action, reason=entry.reason,
                          explanation=line.model_dump(mode="json") if line is not None else None)


def followers_of(deps: Deps, order: Order) -> list[Order]:
    """The orders whose parent is `order` (its stream's follow-ups)."""
    same_site = every(lambda token: deps.store.query_orders(OrderQuery(
        project_id=order.project_id, site_code=order.site_code, limit=1000, continuation=token)))
    return [o for o in same_site if o.parent_order_id == order.order_id]


def order_context(deps: Deps, order_id: str) -> OrderContext | None:
    order = deps.store.get_order(order_id)
    if order is None:
        return None
    project = deps.store.get_projects([order.project_id]).get(order.project_id)
    stream = deps.store.get_streams([order.stream_id]).get(order.stream_id)
    why_not = deps.policy.why_not(project) if project is not None else "the project is not in the project master"
    not_cleared = Clearance(required=deps.settings.require_clearance).why_not(stream)
    return OrderContext(
        order=order, project=project, qualifies=why_not is None, why_not_qualifying=why_not, stream=stream,
        cleared=not_cleared is None, why_not_cleared=not_cleared,
        reservation=deps.inventory.get_reservation(order_id),
        events=deps.store.outbox_events(order_id),
        last_allocation=last_allocation(deps, order_id),
        followers=followers_of(deps, order))
