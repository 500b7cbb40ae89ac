"""Building blocks for the warehouse and order tests: a stream through the real
handlers up to the status a test needs, and a look at everything an order
leaves behind (order, audit, outbox, stock)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.domain.effects import evolve, record
from common.domain.events import OrderEventType
from common.domain.lifecycle import Action, transition
from common.domain.models import SYSTEM, Actor, ActorType, Order, Reservation
from common.service.bootstrap import Deps
from common.service.commands import ApplyWarehouseEvents, IngestEngineeringEvents
from common.service.handlers.batch import EventResult, IngestReport
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.warehouse import apply_held_events, apply_warehouse_events
from common.service.paging import all_audit
from common.service.unit_of_work import UnitOfWork

PROJECT, SITE, TYPE = "PRJ-0000101", "NYC-00417", "NewBuild"
ORDER = f"{PROJECT}~{SITE}~{TYPE}~1"
WH = "WH-EAST"
DESIGN = {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}
APPROVER = Actor(type=ActorType.USER, id="alice")
PLANNER = Actor(type=ActorType.USER, id="bob")
AT = "2026-11-20T09:00:00Z"


def design_event(event_id: str = "evt-1", version: int = 1, items: dict[str, int] | None = None,
                 project: str = PROJECT, site: str = SITE, *, order_type: str = TYPE,
                 kind: str = "DesignApproved", at: str = AT) -> dict[str, Any]:
    """An engineering event as engineering sends it (DESIGN by default)."""
    return {"event_id": event_id, "event_type": kind, "occurred_at": at, "project_id": project,
            "site_code": site, "order_type": order_type, "design_version": version,
            "items": [{"sku": s, "qty": q, "uom": "EA"} for s, q in (DESIGN if items is None else items).items()]}


def stock_up(deps: Deps, quantities: dict[str, int], warehouse: str = WH) -> None:
    assert deps.inventory is not None
    deps.inventory.set_on_hand([(warehouse, sku, qty) for sku, qty in quantities.items()], deps.clock.now())


def on_hand(deps: Deps, warehouse: str = WH) -> dict[str, tuple[int, int]]:
    """SKU -> (on_hand, reserved)."""
    assert deps.inventory is not None
    return {r.sku: (r.on_hand, r.reserved) for r in deps.inventory.stock(warehouse)}


def design(deps: Deps, **kwargs: Any) -> str:
    report = ingest_engineering_events(deps, IngestEngineeringEvents([design_event(**kwargs)], channel="file"))
    (result,) = report.results
    assert result.order_id is not None, result
    return result.order_id


def approve(deps: Deps, order_id: str) -> Order:
    from common.service.handlers.review import ApproveOrder, approve_order

    return approve_order(deps, ApproveOrder(order_id=order_id, actor=APPROVER))


def _move(deps: Deps, order_id: str, action: Action, event: OrderEventType) -> Order:
    uow = UnitOfWork(deps.store, deps.inventory)
    order = uow.order(order_id)
    assert order is not None
    at = deps.clock.now()
    after = evolve(order, at, status=transition(order.status, action))
    uow.add(record(order, after, action=action.value, actor=SYSTEM, at=at, event=event))
    assert uow.commit().ok
    return after


def allocate(deps: Deps, order_id: str) -> Order:
    """Reserve the order's lines and move it to Allocated (what an
    allocation run does for one order that fits)."""
    assert deps.inventory is not None
    order = deps.store.get_order(order_id)
    assert order is not None and order.warehouse_id is not None
    deps.inventory.reserve(Reservation(order_id=order_id, warehouse_id=order.warehouse_id,
                                       lines=order.quantities(), at=deps.clock.now()))
    return _move(deps, order_id, Action.ALLOCATE, OrderEventType.ALLOCATED)


def release(deps: Deps, order_id: str) -> Order:
    """The release step: Allocated -> Released, then the held warehouse
    events of the order get their chance (the hook the release step calls)."""
    released = _move(deps, order_id, Action.RELEASE, OrderEventType.RELEASE_REQUESTED)
    apply_held_events(deps, [order_id])
    return released


def warehouse(deps: Deps, *events: dict[str, Any]) -> IngestReport:
    return apply_warehouse_events(deps, ApplyWarehouseEvents(list(events), channel="file"))


def one(deps: Deps, event: dict[str, Any]) -> EventResult:
    (result,) = warehouse(deps, event).results
    return result


def completed(event_id: str, order_id: str = ORDER) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "ReleaseCompleted", "occurred_at": AT, "order_id": order_id}


def rejected(event_id: str, reason: str = "config_mismatch", order_id: str = ORDER) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "ReleaseRejected", "occurred_at": AT, "order_id": order_id,
            "reason": reason}


def returned(event_id: str, items: dict[str, int], reason: str = "damaged", order_id: str = ORDER) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "ReturnReceived", "occurred_at": AT, "order_id": order_id,
            "reason": reason, "items": [{"sku": s, "qty": q} for s, q in items.items()]}


def adjusted(event_id: str, sku: str, delta: int, warehouse_id: str = WH) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "StockAdjusted", "occurred_at": AT, "warehouse_id": warehouse_id,
            "sku": sku, "delta": delta, "reason": "cycle_count"}


@dataclass
class Snapshot:
    """Everything a warehouse event could change."""

    orders: dict[str, dict[str, Any]]
    audit: list[str]
    outbox: list[str]
    stock: list[tuple[str, str, int, int]]
    reservations: list[tuple[str, dict[str, int]]]
    markers: int


def snapshot(deps: Deps, refusals: bool = True) -> Snapshot:
    """Everything a warehouse event could change (`refusals=False`: but the
    refusals it leaves on the orders' audit trails)."""
    from common.ports import OrderQuery

    assert deps.inventory is not None
    orders = deps.store.query_orders(OrderQuery(limit=1000)).items
    audit = all_audit(deps.store)
    store: Any = deps.store
    markers = store._rows("SELECT COUNT(*) FROM markers")[0][0]
    return Snapshot(
        orders={o.order_id: o.model_dump(mode="json", exclude={"etag"}) for o in orders},
        audit=sorted(a.audit_id for a in audit if refusals or not a.action.endswith("_refused")),
        outbox=sorted(e.id for e in deps.store.outbox_events()),
        stock=[(r.warehouse_id, r.sku, r.on_hand, r.reserved) for r in deps.inventory.stock()],
        reservations=[(r.order_id, r.lines) for r in deps.inventory.reservations()],
        markers=markers,
    )
