"""The project master is the master source of a project's National Priority,
gated flag, plan type, market and warehouse: after a master load, the open
orders (Draft, Approved, Allocated) of the projects whose values changed take
the new ones (common.domain.orders.follow_master), each change audited on its
order, so the next allocation run ranks by the current master. An Allocated
order whose warehouse changed goes back to Draft and its reservation returns
(the unit of work does it once the order is written)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from common.domain import orders as verbs
from common.domain.models import SYSTEM, Actor
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import FollowProjectMaster
from common.service.paging import every
from common.service.retry import retry_conflicts
from common.service.unit_of_work import UnitOfWork

CHUNK = 200  # projects per unit of work


@dataclass
class FollowReport:
    updated: list[str] = field(default_factory=list)  # order ids
    sent_back: list[str] = field(default_factory=list)  # Allocated orders back to Draft (new warehouse)
    conflicted: list[str] = field(default_factory=list)  # projects still losing after the last attempt


def follow_project_master(deps: Deps, cmd: FollowProjectMaster, actor: Actor = SYSTEM) -> FollowReport:
    report = FollowReport()
    projects = deps.store.get_projects(list(dict.fromkeys(cmd.project_ids)))

    def attempt(pending: Sequence[str]) -> list[str]:
        uow = UnitOfWork(deps.store, deps.inventory)
        touched: dict[str, list[tuple[str, bool]]] = {}
        for project_id in pending:
            open_orders = [o for o in every(lambda token, p=project_id: deps.store.query_orders(  # type: ignore[misc]
                OrderQuery(project_id=p, limit=1000, continuation=token))) if o.status in verbs.OPEN]
            uow.adopt_orders(open_orders)
            for order in open_orders:
                effect = verbs.follow_master(order, projects[project_id], actor=actor, at=deps.clock.now(),
                                             correlation_id=cmd.correlation_id)
                if effect is not None:
                    uow.add(effect)
                    touched.setdefault(project_id, []).append((order.order_id, not effect.stock.is_empty))
        conflicts = uow.commit().conflicts
        for project_id, orders in touched.items():
            if project_id not in conflicts:
                report.updated.extend(o for o, _ in orders)
                report.sent_back.extend(o for o, moved in orders if moved)
        return [p for p in pending if p in conflicts]

    known = [p for p in cmd.project_ids if p in projects]
    for start in range(0, len(known), CHUNK):
        report.conflicted += retry_conflicts(known[start:start + CHUNK], attempt, what="project master changes")
    return report
