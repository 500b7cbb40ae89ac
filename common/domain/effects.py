"""What every order verb returns: one `Effect`, the unit the unit of work
commits atomically (the order as written, its audit entry with the changed
fields and lines, its outbound event) together with its `StockEffect`.

The stock lives in another container (another partition, another store
transaction), so an effect says what its stock side is and *when* it must
happen, and the unit of work does it (common/service/unit_of_work.py):

- `reserve` happens before the order write: an order is Allocated only with
  its units reserved (a refused reservation drops the write);
- `first` effects (the warehouse's consume, release, restock) happen before
  the order write too: each is idempotent, so a crash in between is repaired
  by the redelivered event, while the other way round a crash would lose the
  stock change for good (the event would then be a duplicate);
- everything else (a reservation given back because the order left
  Allocated) happens after the order write, only for the partitions that
  committed: a crash in between leaves a reservation of an order that is no
  longer Allocated, which the next allocation run gives back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.domain.bounds import ensure_lines_in_bounds
from common.domain.events import OrderEventType, order_event
from common.domain.ids import history_id, refusal_id
from common.domain.models import Actor, AuditEntry, Change, Order, OrderLine, OutboxEvent, Reason, Reservation

# Fields whose change is worth an audit line; bookkeeping (version, etag,
# updated_at, status_since) is not.
AUDITED_FIELDS = (
    "status",
    "revision",
    "design_version",
    "parent_order_id",
    "warehouse_id",
    "market",
    "national_priority",
    "gated",
    "plan_type",
    "need_by",
    "rejection_reason",
    "delivered_before",
    "engineering_hold",
)


@dataclass(frozen=True)
class Restock:
    """Returned units going back on hand, once per `adjustment_id`."""

    warehouse_id: str
    sku: str
    qty: int
    adjustment_id: str


@dataclass(frozen=True)
class StockEffect:
    """The inventory side of one order write (see the module docstring)."""

    reserve: Reservation | None = None  # before the write; refused -> the write is dropped
    release: str | None = None  # the order whose reservation goes back
    consume: str | None = None  # the order whose reservation the warehouse shipped
    restock: tuple[Restock, ...] = ()
    first: bool = False  # release / consume / restock before the write (warehouse events)

    @property
    def is_empty(self) -> bool:
        return self.reserve is None and self.release is None and self.consume is None and not self.restock


NO_STOCK = StockEffect()


@dataclass
class Effect:
    """One order write with what it leaves behind."""

    order: Order
    before: Order | None
    audit: AuditEntry
    outbox: OutboxEvent | None
    stock: StockEffect = NO_STOCK
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        return self.before is None


# -------------------------------------------------------------------- diffs
def _line_key(line: OrderLine, skus: dict[str, int]) -> str:
    return line.sku if skus[line.sku] == 1 else f"{line.sku}/{line.source.value}"


def _line_map(lines: list[OrderLine]) -> dict[str, OrderLine]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.sku] = counts.get(line.sku, 0) + 1
    return {_line_key(line, counts): line for line in lines}


def plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "value"):  # enums
        return value.value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def line_changes(old: list[OrderLine], new: list[OrderLine]) -> list[Change]:
    before, after = _line_map(old), _line_map(new)
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        if a is None and b is not None:
            changes.append(Change(path=f"lines[{key}]", old=None, new=b.as_json()))
        elif b is None and a is not None:
            changes.append(Change(path=f"lines[{key}]", old=a.as_json(), new=None))
        elif a is not None and b is not None:
            for attr in ("qty", "uom", "source"):
                x, y = getattr(a, attr), getattr(b, attr)
                if x != y:
                    changes.append(Change(path=f"lines[{key}].{attr}", old=plain(x), new=plain(y)))
    return changes


def diff(old: Order | None, new: Order) -> list[Change]:
    """Changed fields and lines, old and new values. A new order lists its
    lines as added."""
    changes: list[Change] = []
    for name in AUDITED_FIELDS:
        a = getattr(old, name) if old is not None else None
        b = getattr(new, name)
        if a != b:
            changes.append(Change(path=name, old=plain(a), new=plain(b)))
    if old is None or old.lines is not new.lines:  # `evolve` keeps the very list when the lines stay
        changes.extend(line_changes(old.lines if old is not None else [], new.lines))
    return changes


def same_lines(a: list[OrderLine], b: list[OrderLine]) -> bool:
    key = lambda line: (line.sku, line.source.value, line.qty, line.uom)
    return sorted(map(key, a)) == sorted(map(key, b))


# ------------------------------------------------------------------- writes
def evolve(order: Order, at: datetime, **changes: Any) -> Order:
    """The next version of `order` with `changes` applied; lines past the
    bounds (common.domain.bounds) are refused, whatever path made them."""
    if "lines" in changes:
        ensure_lines_in_bounds(changes["lines"])
    status_changed = "status" in changes and changes["status"] != order.status
    update: dict[str, Any] = {"version": order.version + 1, "updated_at": at, **changes}
    if status_changed:
        update["status_since"] = at
    return order.model_copy(update=update)


def record(
    before: Order | None,
    after: Order,
    *,
    action: str,
    actor: Actor,
    at: datetime,
    event: OrderEventType | None,
    reason: str | None = None,
    correlation_id: str | None = None,
    stock: StockEffect = NO_STOCK,
    **event_extra: Any,
) -> Effect:
    entry = AuditEntry(
        audit_id=history_id(after.order_id, after.version),
        order_id=after.order_id,
        project_id=after.project_id,
        at=at,
        actor=actor,
        action=action,
        from_status=before.status if before is not None else None,
        to_status=after.status,
        changes=diff(before, after),
        reason=reason,
        correlation_id=correlation_id,
    )
    outbox = order_event(after, event, at, **event_extra) if event is not None else None
    return Effect(order=after, before=before, audit=entry, outbox=outbox, stock=stock)


def refusal(order: Order, *, action: str, actor: Actor, at: datetime, reasons: list[Reason],
            correlation_id: str | None) -> AuditEntry:
    """An audit entry for what was asked of `order` and refused (a request, a
    warehouse callback): the trail shows every action, even one that changed
    nothing. The order itself is not written."""
    text = "; ".join(f"{'.'.join(map(str, r.loc)) or '(request)'}: {r.msg}" for r in reasons) or "refused"
    return AuditEntry(
        audit_id=refusal_id(order.order_id, action, correlation_id or at.isoformat()),
        order_id=order.order_id, project_id=order.project_id, at=at, actor=actor, action=f"{action}_refused",
        from_status=order.status, to_status=order.status,
        changes=[Change(path="refused", new=[r.model_dump(mode="json", exclude_none=True) for r in reasons])],
        reason=text, correlation_id=correlation_id)
