"""A small world for allocation runs: qualifying projects in two warehouses,
a catalogue, stock, and Approved orders written straight to the store. The
`world` fixture (tests/service/conftest.py) builds it from these."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from common.domain.ids import order_id, order_number
from common.domain.models import (
    CheckStatus,
    FeasibilityCheck,
    Order,
    OrderLine,
    OrderStatus,
    Project,
    Stream,
    StreamKey,
)
from common.ports import InventoryStore, OrderQuery
from common.service.bootstrap import Deps
from common.service.unit_of_work import UnitOfWork

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SKUS = ("A", "B", "C", "D")


def project(project_id: str, *, warehouse: str = "WH-1", priority: int = 2, gated: bool = False,
            milestone: str = "MilestoneApproved", plan_type: str = "Coverage") -> Project:
    return Project(project_id=project_id, site_code=f"S-{project_id}", project_status="Active", milestone=milestone,
                   plan_type=plan_type, national_priority=priority, gated=gated, warehouse_id=warehouse)


def inventory(deps: Deps) -> InventoryStore:
    assert deps.inventory is not None
    return deps.inventory


def approved(deps: Deps, project_id: str, lines: dict[str, int], *, seq: int = 1, order_type: str = "NewBuild",
             approved_at: datetime | None = None, short_runs: int = 0) -> Order:
    """An Approved order as the review flow leaves it (copied project facts)."""
    proj = deps.store.get_projects([project_id])[project_id]
    key = StreamKey(project_id=project_id, site_code=proj.site_code or "S", order_type=order_type)
    at = approved_at or T0 + timedelta(minutes=seq)
    order = Order(order_id=order_id(key, seq), order_number=order_number(key, seq), project_id=project_id,
                  site_code=key.site_code, order_type=order_type, seq=seq, status=OrderStatus.APPROVED,
                  warehouse_id=proj.warehouse_id, national_priority=proj.national_priority, gated=proj.gated,
                  plan_type=proj.plan_type, approved_at=at, status_since=at, created_at=at, updated_at=at,
                  short_runs=short_runs,
                  lines=[OrderLine(line_no=i + 1, sku=sku, qty=qty) for i, (sku, qty) in enumerate(lines.items())])
    uow = UnitOfWork(deps.store, deps.inventory)
    uow.put_order(order)
    assert uow.commit().ok
    return order


def infeasible(deps: Deps, order: Order) -> None:
    stream = Stream(stream_id=order.stream.id, project_id=order.project_id, site_code=order.site_code,
                    order_type=order.order_type, feasible=False, order_ids=[order.order_id],
                    checks=[FeasibilityCheck(name="power", status=CheckStatus.FAILED),
                            FeasibilityCheck(name="permit", status=CheckStatus.PASSED)])
    uow = UnitOfWork(deps.store, deps.inventory)
    uow.put_stream(stream)
    assert uow.commit().ok


def all_orders(deps: Deps) -> dict[str, Order]:
    out: dict[str, Order] = {}
    continuation = None
    while True:
        page = deps.store.query_orders(OrderQuery(limit=1000, continuation=continuation))
        out.update({o.order_id: o for o in page.items})
        continuation = page.continuation
        if not continuation:
            return out


def assert_consistent(deps: Deps) -> None:
    """Every order is Allocated or Released with its reservation, or holds
    none; stock reserved is exactly what the reservations hold."""
    inv = inventory(deps)
    held = {r.order_id: r for r in inv.reservations()}
    for order in all_orders(deps).values():
        if order.status in (OrderStatus.ALLOCATED, OrderStatus.RELEASED):
            assert order.order_id in held, f"{order.order_id} is {order.status} without its reservation"
            assert held[order.order_id].lines == order.quantities()
        else:
            assert order.order_id not in held, f"{order.order_id} is {order.status} but holds a reservation"
    reserved: dict[tuple[str, str], int] = {}
    for r in held.values():
        for sku, qty in r.lines.items():
            reserved[(r.warehouse_id, sku)] = reserved.get((r.warehouse_id, sku), 0) + qty
    for row in inv.stock():
        assert row.reserved == reserved.get((row.warehouse_id, row.sku), 0)
        assert row.available >= 0


class StockTakenAtFirstBatch:
    """The inventory, with a cycle count taking `delta` units of `sku` just
    before the run's first reservations."""

    def __init__(self, inner: InventoryStore, sku: str, delta: int) -> None:
        self.inner, self.sku, self.delta, self.done = inner, sku, delta, False

    def batched(self) -> Any:
        if not self.done:
            self.done = True
            self.inner.adjust_on_hand("WH-1", self.sku, self.delta, "cycle-count-during-run")
        return self.inner.batched()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
