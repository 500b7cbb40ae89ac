"""What every order write leaves behind: the audit entry with the changed
fields and lines (old and new values) and, for transitions, the outbound event.

`Effect` is the unit the service layer commits atomically: the order as
written, its audit entry and its outbox event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.domain.events import OrderEventType, order_event
from common.domain.ids import history_id
from common.domain.models import Actor, AuditEntry, Change, Order, OrderLine, OutboxEvent

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
)


def _line_key(line: OrderLine, skus: dict[str, int]) -> str:
    return line.sku if skus[line.sku] == 1 else f"{line.sku}/{line.source.value}"


def _line_map(lines: list[OrderLine]) -> dict[str, OrderLine]:
    counts: dict[str, int] = {}
    for line in lines:
        counts[line.sku] = counts.get(line.sku, 0) + 1
    return {_line_key(line, counts): line for line in lines}


def _plain(value: Any) -> Any:
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
                    changes.append(Change(path=f"lines[{key}].{attr}", old=_plain(x), new=_plain(y)))
    return changes


def diff(old: Order | None, new: Order) -> list[Change]:
    """Changed fields and lines, old and new values. A new order lists its
    lines as added."""
    changes: list[Change] = []
    for name in AUDITED_FIELDS:
        a = getattr(old, name) if old is not None else None
        b = getattr(new, name)
        if a != b:
            changes.append(Change(path=name, old=_plain(a), new=_plain(b)))
    changes.extend(line_changes(old.lines if old is not None else [], new.lines))
    return changes


def same_lines(a: list[OrderLine], b: list[OrderLine]) -> bool:
    key = lambda line: (line.sku, line.source.value, line.qty, line.uom)
    return sorted(map(key, a)) == sorted(map(key, b))


@dataclass
class Effect:
    """One order write with what it leaves behind."""

    order: Order
    before: Order | None
    audit: AuditEntry
    outbox: OutboxEvent | None
    # The order left Allocated: its reservation goes back to stock.
    releases_reservation: bool = False
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        return self.before is None


def evolve(order: Order, at: datetime, **changes: Any) -> Order:
    """The next version of `order` with `changes` applied."""
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
    releases_reservation: bool = False,
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
    return Effect(order=after, before=before, audit=entry, outbox=outbox,
                  releases_reservation=releases_reservation)
