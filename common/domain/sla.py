"""SLA ages (DESIGN.md section 3, SLAs and the dashboard). Pure.

Each state has an SLA age: an order that has been in that state longer
breaches it. The stream's `need_by` date is the SLA clock for material on
site: a Released order still not delivered after its `need_by` day breaches
too. Each breach is flagged once; the key names the state *and* when the
order entered it, so an order that comes back to a state later gets a breach
of its own for that later stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from common.domain.models import Order, OrderStatus

NEED_BY = "need_by"


@dataclass(frozen=True)
class Breach:
    order_id: str
    status: OrderStatus
    key: str  # what goes in Order.sla_breached
    kind: str  # "state_age" | "need_by"
    since: datetime  # when the clock started
    due: datetime  # when it ran out
    age_hours: float
    limit_hours: float | None

    @property
    def overdue_hours(self) -> float:
        return self.age_hours - (self.limit_hours or 0.0)


def entered_at(order: Order) -> datetime:
    """When the order entered its current status (older orders without the
    field count from their creation)."""
    return order.status_since or order.created_at


def age_hours(order: Order, now: datetime) -> float:
    return max(0.0, (now - entered_at(order)).total_seconds() / 3600)


def state_key(status: OrderStatus, since: datetime) -> str:
    return f"{status.value}@{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def need_by_key(need_by: date) -> str:
    return f"{NEED_BY}@{need_by.isoformat()}"


def need_by_deadline(need_by: date) -> datetime:
    """Material is due on site by the end of the need-by day (UTC)."""
    return datetime.combine(need_by + timedelta(days=1), time.min, tzinfo=UTC)


def breaches_of(order: Order, now: datetime, sla_hours: Mapping[str, float]) -> list[Breach]:
    """Every breach `order` is in at `now`, flagged or not."""
    out: list[Breach] = []
    since = entered_at(order)
    age = age_hours(order, now)
    limit = sla_hours.get(order.status.value)
    if limit is not None and limit > 0 and now - since > timedelta(hours=limit):
        out.append(Breach(order.order_id, order.status, state_key(order.status, since), "state_age", since,
                          since + timedelta(hours=limit), age, float(limit)))
    if order.status == OrderStatus.RELEASED and order.need_by is not None:
        due = need_by_deadline(order.need_by)
        if now >= due:
            out.append(Breach(order.order_id, order.status, need_by_key(order.need_by), NEED_BY, since, due,
                              (now - due).total_seconds() / 3600, None))
    return out


def new_breaches(orders: Iterable[Order], now: datetime, sla_hours: Mapping[str, float]) -> list[Breach]:
    """Breaches not flagged yet, oldest due first."""
    found = [b for order in orders for b in breaches_of(order, now, sla_hours) if b.key not in order.sla_breached]
    return sorted(found, key=lambda b: (b.due, b.order_id))
