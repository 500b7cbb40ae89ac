"""The pure rules: warehouse event schemas and return arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

from common.domain.effects import Restock
from common.domain.models import SYSTEM, Order, OrderLine, OrderStatus
from common.domain.orders import receive_return
from common.domain.returns import FollowUp, follow_up_of, return_problems
from common.domain.warehouse_inbound import ReturnItem, ReturnReceived, adjustment_id, check_warehouse_event

AT = datetime(2026, 11, 20, tzinfo=UTC)


def _order(**quantities: int) -> Order:
    return Order(order_id="P~S~NewBuild~1", order_number="S-NB-001", project_id="P", site_code="S",
                 order_type="NewBuild", seq=1, status=OrderStatus.CLOSED, created_at=AT, updated_at=AT,
                 warehouse_id="WH", lines=[OrderLine(line_no=n, sku=s, qty=q)
                                           for n, (s, q) in enumerate(quantities.items(), 1)])


def test_a_malformed_event_reports_every_reason_at_once() -> None:
    event, reasons = check_warehouse_event({"event_type": "ReturnReceived", "order_id": "a/b", "items": [
        {"sku": "X", "qty": 0}, {"sku": "X", "qty": 1}]})
    assert event is None
    assert {tuple(r.loc) for r in reasons} >= {("event_id",), ("occurred_at",), ("order_id",), ("reason",),
                                               ("items", 0, "qty"), ("items", 1, "sku")}


def test_an_event_without_a_known_type_still_reports_its_other_fields() -> None:
    _, reasons = check_warehouse_event({"event_type": "Teleported", "occurred_at": "yesterday"})
    assert {tuple(r.loc) for r in reasons} == {("event_id",), ("event_type",), ("occurred_at",)}


def test_a_valid_return_parses_with_naive_times_as_utc() -> None:
    event, reasons = check_warehouse_event({"event_id": "e", "event_type": "ReturnReceived",
                                            "occurred_at": "2026-11-20T08:00:00", "order_id": "P~S~NewBuild~1",
                                            "reason": "damaged", "items": [{"sku": "X", "qty": 2}]})
    assert reasons == [] and isinstance(event, ReturnReceived)
    assert event.occurred_at.tzinfo is not None


def _return(order: Order, items: dict[str, int]) -> Order:
    restock = [Restock("WH", sku, qty, f"adj-{sku}") for sku, qty in items.items()]
    return receive_return(order, items, reason="damaged", event_id="e", restock=restock, actor=SYSTEM, at=AT,
                          follow_up_order_id=None).order


def test_returns_add_up_and_are_full_only_when_everything_came_back() -> None:
    first = _return(_order(A=3, B=1), {"A": 2})
    assert (first.returned, first.status) == ({"A": 2}, OrderStatus.PARTIALLY_RETURNED)
    full = _return(first, {"A": 1, "B": 1})
    assert (full.returned, full.status) == ({"A": 3, "B": 1}, OrderStatus.FULLY_RETURNED)


def test_returning_more_than_is_left_or_a_foreign_sku_is_refused() -> None:
    order = _order(A=3).model_copy(update={"returned": {"A": 2}})
    problems = return_problems(order, [ReturnItem(sku="A", qty=2), ReturnItem(sku="Z", qty=1)])
    assert [(p.loc, p.type) for p in problems] == [(["items", 0, "qty"], "over_return"),
                                                   (["items", 1, "sku"], "unknown_line")]


def test_the_default_policy_maps_every_contract_reason() -> None:
    from common.config import DEFAULT_RETURN_POLICY

    assert {r: follow_up_of(r, DEFAULT_RETURN_POLICY) for r in DEFAULT_RETURN_POLICY} == {
        "incorrect_allocation": FollowUp.DELTA, "damaged": FollowUp.DELTA, "technical_issue": FollowUp.DELTA,
        "design_change": FollowUp.NEW_ORDER, "customer_cancellation": FollowUp.NONE}
    assert not isinstance(follow_up_of("boredom", DEFAULT_RETURN_POLICY), FollowUp)


def test_adjustment_ids_are_stable_and_distinct_per_event_and_sku() -> None:
    assert adjustment_id("return", "e1", "A") == adjustment_id("return", "e1", "A")
    ids = {adjustment_id("return", "e1", "A"), adjustment_id("return", "e1", "B"),
           adjustment_id("return", "e1~A", None), adjustment_id("stock", "e1", None)}
    assert len(ids) == 4
    assert all("/" not in i and "#" not in i for i in ids)
