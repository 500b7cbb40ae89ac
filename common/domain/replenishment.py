"""Replenishment by reorder thresholds (DESIGN.md section 3, Replenishment). Pure: no I/O.

Per (warehouse, SKU) a reorder policy names a reorder point, a target level
and a lead time. The projected position is

    position = on hand - reserved - demand + open replenishment

where demand is what open orders not yet allocated (Draft and Approved)
still need from that warehouse. Write `base` for the position without the
open replenishment (on hand - reserved - demand). Then, at each evaluation:

- no open request and `base < reorder point` -> a request is opened for
  `target - base` (what brings the position to the target);
- an open request and `target - base` grew past its quantity (more demand, a
  higher target) -> its quantity is raised to it: still one request;
- an open request, stock arrived (the evaluation follows a `StockAdjusted`,
  a snapshot or a return of that SKU in that warehouse, or on hand is above
  what the request last saw) and `base` is back at the reorder point or
  above -> it is fulfilled, with the time it took.

The quantity only grows while a request is open: the request has gone to
someone who orders the material, and demand that falls away (an order
cancelled) is not stock that arrived, so it neither shrinks nor closes it.

Each change is one `RequestChange`: the request as written, its audit entry
and its outbound event (`oms.stock.replenishment_requested` when opened or
raised, `oms.stock.replenishment_fulfilled` when closed), committed together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.domain.ids import history_id
from common.domain.models import Actor, AuditEntry, Change, OutboxEvent

PARTITION_PREFIX = "@stock:"  # a project id starts with a letter or digit: never one of these


class ReplenishmentEventType(StrEnum):
    REQUESTED = "oms.stock.replenishment_requested"
    FULFILLED = "oms.stock.replenishment_fulfilled"


class RequestStatus(StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReorderPolicy(_Model):
    """When to reorder a SKU in a warehouse, and how much (dataset
    `reorder-policy`, or the defaults of its SKU class in settings)."""

    model_config = ConfigDict(extra="allow")  # extra dataset columns are kept as attributes

    warehouse_id: str
    sku: str
    reorder_point: int = Field(ge=0)
    target_level: int = Field(ge=0)
    lead_time_days: int = Field(ge=0)
    source: Literal["dataset", "default"] = "dataset"
    sku_class: str | None = None
    updated_at: datetime | None = None
    removed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.warehouse_id, self.sku)

    @property
    def target(self) -> int:
        """The level a request fills up to (never below the reorder point)."""
        return max(self.target_level, self.reorder_point)


class ClassDefault(_Model):
    """The policy of every SKU of a class without a policy of its own (settings)."""

    reorder_point: int = Field(ge=0)
    target_level: int = Field(ge=0)
    lead_time_days: int = Field(ge=0)


class Position(_Model):
    """The projected position of one (warehouse, SKU) at an evaluation."""

    on_hand: int
    reserved: int
    demand: int  # Draft and Approved orders' lines (weighted by need-by when configured)
    replenishment: int = 0  # the open request's quantity
    orders: int = 0  # open orders counted in `demand`

    @property
    def base(self) -> int:
        return self.on_hand - self.reserved - self.demand

    @property
    def projected(self) -> int:
        return self.base + self.replenishment

    def as_json(self) -> dict[str, Any]:
        return {"on_hand": self.on_hand, "reserved": self.reserved, "demand": self.demand,
                "replenishment": self.replenishment, "projected": self.projected, "orders": self.orders}


class ReplenishmentRequest(_Model):
    request_id: str
    warehouse_id: str
    sku: str
    seq: int
    status: RequestStatus = RequestStatus.OPEN
    quantity: int
    reorder_point: int
    target_level: int
    lead_time_days: int
    policy_source: Literal["dataset", "default"] = "dataset"
    position: dict[str, int] = Field(default_factory=dict)  # Position.as_json at the last change
    opened_at: datetime
    due_at: datetime  # opened_at + lead time: when the material is expected
    updated_at: datetime
    closed_at: datetime | None = None
    duration_seconds: float | None = None
    opened_by: str | None = None  # the trigger of the evaluation that opened it
    closed_by: str | None = None
    version: int = 1
    etag: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.warehouse_id, self.sku)

    @property
    def partition(self) -> str:
        return partition_of(self.warehouse_id)


@dataclass(frozen=True)
class RequestChange:
    """One write of a request: the request as written (`expected` is the ETag
    it was read with, None to create it), its audit entry and its event."""

    kind: Literal["opened", "raised", "fulfilled"]
    request: ReplenishmentRequest
    expected: str | None
    audit: AuditEntry
    outbox: OutboxEvent


# ---------------------------------------------------------------- identity
def partition_of(warehouse_id: str) -> str:
    """Where a warehouse's requests, their audit entries and events live (the
    `orders` container's partition key): never a project's, and without '~'
    so that `project_of(request_id)` reads it back."""
    return PARTITION_PREFIX + warehouse_id.replace("~", "%7E")


def request_id(warehouse_id: str, sku: str, seq: int) -> str:
    """Deterministic: two evaluations opening the same request collide on
    its id (insert-only), so there is never a second open request."""
    return f"{partition_of(warehouse_id)}~{sku}~{seq}"


# ---------------------------------------------------------------- policies
def sku_class(sku: str, attributes: Mapping[str, Any] | None = None) -> str:
    """A SKU's class: the catalogue's `sku_class` attribute, else the SKU up
    to its first '-' (ANT-4T4R-B41 -> ANT)."""
    value = (attributes or {}).get("sku_class")
    if isinstance(value, str) and value:
        return value
    return sku.split("-", 1)[0]


def default_policy(warehouse_id: str, sku: str, cls: str, defaults: Mapping[str, ClassDefault]) -> ReorderPolicy | None:
    """The settings' policy for the SKU's class, or the `*` one, or None."""
    chosen = defaults.get(cls) or defaults.get("*")
    if chosen is None:
        return None
    return ReorderPolicy(warehouse_id=warehouse_id, sku=sku, reorder_point=chosen.reorder_point,
                         target_level=chosen.target_level, lead_time_days=chosen.lead_time_days, source="default",
                         sku_class=cls)


# ------------------------------------------------------------------ demand
@dataclass(frozen=True)
class DemandLine:
    """What one open order needs of one SKU from one warehouse."""

    warehouse_id: str
    sku: str
    qty: int
    need_by: date | None


def demand_weight(need_by: date | None, today: date, lead_time_days: int) -> Fraction:
    """How much of a line counts with need-by weighting: all of it when it is
    needed within the lead time (or has no need-by, or is late), else the
    share of the wait the lead time covers (needed in 4 lead times: 1/4)."""
    if need_by is None:
        return Fraction(1)
    days = (need_by - today).days
    if days <= lead_time_days:
        return Fraction(1)
    return Fraction(max(lead_time_days, 0), days)


def demand_by_key(lines: Iterable[DemandLine], policies: Mapping[tuple[str, str], ReorderPolicy], today: date,
                  weighted: bool) -> dict[tuple[str, str], tuple[int, int]]:
    """Demand per watched (warehouse, SKU): (units, rounded up; order lines counted)."""
    units: dict[tuple[str, str], Fraction] = {}
    counted: dict[tuple[str, str], int] = {}
    for line in lines:
        key = (line.warehouse_id, line.sku)
        policy = policies.get(key)
        if policy is None or line.qty <= 0:
            continue
        weight = demand_weight(line.need_by, today, policy.lead_time_days) if weighted else Fraction(1)
        units[key] = units.get(key, Fraction(0)) + line.qty * weight
        counted[key] = counted.get(key, 0) + 1
    return {key: (math.ceil(total), counted[key]) for key, total in units.items()}


# ------------------------------------------------------------------ decide
def stock_arrived(request: ReplenishmentRequest, position: Position) -> bool:
    """On hand grew since the request last changed. Only stock coming in
    raises on hand (shipments and count losses lower it), so this tells a
    fulfilment from demand falling away whatever triggered the evaluation
    (the timer's, after a return held on its order was applied late). A
    shipment in between can hide an arrival from it: the evaluations after
    stock changes say so themselves (`arrived`)."""
    return position.on_hand > request.position.get("on_hand", position.on_hand)


def decide(policy: ReorderPolicy, position: Position, open_request: ReplenishmentRequest | None, *,
           next_seq: int, now: datetime, actor: Actor, trigger: str, correlation_id: str | None,
           arrived: bool = False) -> RequestChange | None:
    """The change one evaluation makes for one (warehouse, SKU), or None (see
    the module docstring). `arrived`: the evaluation follows stock coming in
    for this key. `position.replenishment` is ignored: it is the open
    request's quantity, taken from `open_request`."""
    base = position.base
    if open_request is None:
        if base >= policy.reorder_point:
            return None
        quantity = policy.target - base
        request = ReplenishmentRequest(
            request_id=request_id(policy.warehouse_id, policy.sku, next_seq), warehouse_id=policy.warehouse_id,
            sku=policy.sku, seq=next_seq, quantity=quantity, reorder_point=policy.reorder_point,
            target_level=policy.target, lead_time_days=policy.lead_time_days, policy_source=policy.source,
            position=_with(position, quantity), opened_at=now, due_at=now + timedelta(days=policy.lead_time_days),
            updated_at=now, opened_by=trigger)
        reason = (f"projected position {base} of {policy.sku} in {policy.warehouse_id} is below the reorder point "
                  f"{policy.reorder_point}: {quantity} requested to reach {policy.target}")
        changes = [Change(path="status", new=RequestStatus.OPEN.value), Change(path="quantity", new=quantity)]
        return _change("opened", None, request, changes, reason, actor, correlation_id)

    if base >= policy.reorder_point and (arrived or stock_arrived(open_request, position)):
        took = (now - open_request.opened_at).total_seconds()
        closed = open_request.model_copy(update={
            "status": RequestStatus.FULFILLED, "closed_at": now, "duration_seconds": took, "updated_at": now,
            "closed_by": trigger, "position": _with(position, 0), "version": open_request.version + 1})
        reason = (f"stock brought the position of {policy.sku} in {policy.warehouse_id} to {base}, at or above the "
                  f"reorder point {policy.reorder_point}, after {_words(took)}")
        changes = [Change(path="status", old=RequestStatus.OPEN.value, new=RequestStatus.FULFILLED.value),
                   Change(path="duration_seconds", new=took)]
        return _change("fulfilled", open_request, closed, changes, reason, actor, correlation_id)

    wanted = policy.target - base
    if wanted <= open_request.quantity:
        return None
    raised = open_request.model_copy(update={
        "quantity": wanted, "reorder_point": policy.reorder_point, "target_level": policy.target,
        "lead_time_days": policy.lead_time_days, "policy_source": policy.source, "updated_at": now,
        "position": _with(position, wanted), "version": open_request.version + 1})
    reason = (f"demand grew: the position of {policy.sku} in {policy.warehouse_id} without the request is {base}; "
              f"{wanted} now needed to reach {policy.target}")
    changes = [Change(path="quantity", old=open_request.quantity, new=wanted)]
    if open_request.target_level != policy.target:
        changes.append(Change(path="target_level", old=open_request.target_level, new=policy.target))
    return _change("raised", open_request, raised, changes, reason, actor, correlation_id)


def _with(position: Position, replenishment: int) -> dict[str, int]:
    return position.model_copy(update={"replenishment": replenishment}).as_json()


def _words(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


ACTIONS = {"opened": "replenishment_requested", "raised": "replenishment_quantity_raised",
           "fulfilled": "replenishment_fulfilled"}


def _change(kind: Literal["opened", "raised", "fulfilled"], before: ReplenishmentRequest | None,
            after: ReplenishmentRequest, changes: list[Change], reason: str, actor: Actor,
            correlation_id: str | None) -> RequestChange:
    at = after.updated_at
    changes.append(Change(path="position", old=before.position if before else None, new=after.position))
    entry = AuditEntry(audit_id=history_id(after.request_id, after.version), order_id=after.request_id,
                       project_id=after.partition, at=at, actor=actor, action=ACTIONS[kind], changes=changes,
                       reason=reason, correlation_id=correlation_id)
    event_type = ReplenishmentEventType.FULFILLED if kind == "fulfilled" else ReplenishmentEventType.REQUESTED
    event = OutboxEvent(id=history_id(after.request_id, after.version), type=event_type.value,
                        subject=after.request_id, project_id=after.partition, time=at,
                        data={**request_summary(after), "change": kind,
                              "previous_quantity": before.quantity if before is not None else None})
    return RequestChange(kind, after, before.etag if before is not None else None, entry, event)


def request_summary(request: ReplenishmentRequest) -> dict[str, Any]:
    """The request as events and the API show it."""
    return {
        "request_id": request.request_id,
        "warehouse_id": request.warehouse_id,
        "sku": request.sku,
        "status": request.status.value,
        "quantity": request.quantity,
        "reorder_point": request.reorder_point,
        "target_level": request.target_level,
        "lead_time_days": request.lead_time_days,
        "policy_source": request.policy_source,
        "position": dict(request.position),
        "opened_at": request.opened_at.isoformat(),
        "due_at": request.due_at.isoformat(),
        "closed_at": request.closed_at.isoformat() if request.closed_at else None,
        "duration_seconds": request.duration_seconds,
        "version": request.version,
    }
