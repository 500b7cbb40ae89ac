"""The SLA rules alone (common/domain/sla.py): when an order breaches its
state's SLA age or its need-by day, and which breaches are new."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from common.domain.models import Order, OrderStatus
from common.domain.sla import breaches_of, new_breaches

SLA = {"Draft": 72.0, "Approved": 48.0, "Released": 120.0}
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _order(status: OrderStatus = OrderStatus.DRAFT, since: datetime = T0, **kw: object) -> Order:
    return Order(order_id="P~S~NewBuild~1", order_number="S-NB-001", project_id="P", site_code="S",
                 order_type="NewBuild", seq=1, status=status, status_since=since, created_at=since,
                 updated_at=since, **kw)  # type: ignore[arg-type]


def test_an_order_breaches_only_after_its_states_sla_age() -> None:
    order = _order()
    assert breaches_of(order, T0 + timedelta(hours=72), SLA) == []
    (breach,) = breaches_of(order, T0 + timedelta(hours=73), SLA)
    assert (breach.status, breach.kind, breach.limit_hours) == (OrderStatus.DRAFT, "state_age", 72.0)
    assert breach.key == "Draft@2026-11-20T08:00:00Z"


def test_a_state_without_an_sla_never_breaches() -> None:
    assert breaches_of(_order(OrderStatus.CLOSED), T0 + timedelta(days=400), SLA) == []


def test_a_flagged_breach_is_not_new_but_a_later_stay_in_the_state_is() -> None:
    now = T0 + timedelta(days=10)
    flagged = _order(sla_breached=["Draft@2026-11-20T08:00:00Z"])
    assert new_breaches([flagged], now, SLA) == []
    again = flagged.model_copy(update={"status_since": T0 + timedelta(days=5)})
    (breach,) = new_breaches([again], now, SLA)
    assert breach.key == "Draft@2026-11-25T08:00:00Z"


def test_a_released_order_past_its_need_by_day_breaches_the_material_on_site_clock() -> None:
    order = _order(OrderStatus.RELEASED, need_by=date(2026, 11, 21))
    assert breaches_of(order, datetime(2026, 11, 21, 23, 59, tzinfo=UTC), SLA) == []
    (breach,) = breaches_of(order, datetime(2026, 11, 22, 0, 0, tzinfo=UTC), SLA)
    assert (breach.kind, breach.key) == ("need_by", "need_by@2026-11-21")
