"""The reorder rules (common/domain/replenishment.py), pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from common.domain.ids import project_of
from common.domain.models import SYSTEM
from common.domain.replenishment import (
    ClassDefault,
    DemandLine,
    Position,
    ReorderPolicy,
    ReplenishmentRequest,
    RequestChange,
    decide,
    default_policy,
    demand_by_key,
    demand_weight,
    partition_of,
    request_id,
    sku_class,
)

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
POLICY = ReorderPolicy(warehouse_id="WH-1", sku="ANT-1", reorder_point=10, target_level=30, lead_time_days=5)


def at(on_hand: int, reserved: int = 0, demand: int = 0) -> Position:
    return Position(on_hand=on_hand, reserved=reserved, demand=demand)


def run(position: Position, request: ReplenishmentRequest | None = None, *, policy: ReorderPolicy = POLICY,
        arrived: bool = False, now: datetime = T0) -> RequestChange | None:
    return decide(policy, position, request, next_seq=1, now=now, actor=SYSTEM, trigger="test",
                  correlation_id="c", arrived=arrived)


def opened(on_hand: int = 4) -> ReplenishmentRequest:
    change = run(at(on_hand))
    assert change is not None
    request: ReplenishmentRequest = change.request
    return request


def test_a_position_below_the_reorder_point_opens_a_request_for_what_reaches_the_target() -> None:
    change = run(at(on_hand=20, reserved=6, demand=9))  # 20 - 6 - 9 = 5

    assert change is not None and change.kind == "opened"
    request = change.request
    assert (request.quantity, request.status, request.seq) == (25, "open", 1)
    assert request.due_at == T0 + timedelta(days=5)
    assert request.position == {"on_hand": 20, "reserved": 6, "demand": 9, "replenishment": 25, "projected": 30,
                                "orders": 0}
    assert change.outbox.type == "oms.stock.replenishment_requested" and change.outbox.data["quantity"] == 25
    assert change.audit.action == "replenishment_requested" and change.audit.order_id == request.request_id


def test_a_position_at_the_reorder_point_opens_nothing() -> None:
    assert run(at(10)) is None


def test_more_demand_raises_the_open_request_and_less_demand_leaves_it() -> None:
    request = opened(4)  # 26 requested

    raised = run(at(4, demand=3), request)
    assert raised is not None and raised.kind == "raised"
    assert (raised.request.quantity, raised.request.version, raised.request.request_id) == (29, 2, request.request_id)
    assert next((c.path, c.old, c.new) for c in raised.audit.changes) == ("quantity", 26, 29)
    assert raised.outbox.data["previous_quantity"] == 26 and raised.outbox.id == f"{request.request_id}@2"
    assert run(at(4, demand=0), raised.request) is None  # an order cancelled is not stock that came in


def test_an_open_request_is_fulfilled_only_when_stock_came_in_and_the_point_is_reached() -> None:
    request = opened(4)
    later = T0 + timedelta(days=2, hours=6)

    assert run(at(12), request, now=later) is not None  # on hand above what it saw: stock came in
    assert run(at(9), request, now=later, arrived=True) is None  # still below the point: stays open
    assert run(at(4), request, now=later) is None
    closed = run(at(4 + 30, reserved=20), request, now=later, arrived=True)  # 14 >= 10
    assert closed is not None and closed.kind == "fulfilled"
    assert closed.request.status == "fulfilled" and closed.request.closed_at == later
    assert closed.request.duration_seconds == 2.25 * 86_400
    assert closed.outbox.type == "oms.stock.replenishment_fulfilled"


def test_a_shipment_between_does_not_hide_stock_the_trigger_says_came_in() -> None:
    below = run(at(20, reserved=12))  # 8 < 10: opened while 20 are on hand
    assert below is not None
    # shipped 12 (on hand 8), then 5 returned (13): on hand is below what it saw
    assert run(at(13), below.request) is None
    assert run(at(13), below.request, arrived=True) is not None


def test_a_target_below_the_reorder_point_fills_up_to_the_point() -> None:
    policy = POLICY.model_copy(update={"target_level": 5})
    change = run(at(2), policy=policy)
    assert change is not None and change.request.quantity == 8


def test_request_ids_name_their_partition_and_no_project_can_have_it() -> None:
    rid = request_id("WH~odd", "ANT-1", 3)
    assert project_of(rid) == partition_of("WH~odd") == "@stock:WH%7Eodd"
    assert rid == "@stock:WH%7Eodd~ANT-1~3"


def test_a_sku_class_is_its_catalogue_attribute_or_its_prefix() -> None:
    assert sku_class("ANT-4T4R-B41") == "ANT"
    assert sku_class("ANT-4T4R-B41", {"sku_class": "antenna"}) == "antenna"
    defaults = {"ANT": ClassDefault(reorder_point=1, target_level=4, lead_time_days=2),
                "*": ClassDefault(reorder_point=0, target_level=2, lead_time_days=9)}
    chosen = default_policy("WH-1", "ANT-9", "ANT", defaults)
    assert chosen is not None and (chosen.reorder_point, chosen.source) == (1, "default")
    other = default_policy("WH-1", "RRU-9", "RRU", defaults)
    assert other is not None and other.lead_time_days == 9
    assert default_policy("WH-1", "RRU-9", "RRU", {"ANT": defaults["ANT"]}) is None


def test_need_by_weighting_counts_what_is_needed_within_the_lead_time_in_full() -> None:
    today = date(2026, 11, 20)
    assert demand_weight(None, today, 5) == 1
    assert demand_weight(today + timedelta(days=5), today, 5) == 1
    assert demand_weight(today - timedelta(days=3), today, 5) == 1
    assert demand_weight(today + timedelta(days=20), today, 5) == Fraction(1, 4)
    lines = [DemandLine("WH-1", "ANT-1", 4, today + timedelta(days=20)), DemandLine("WH-1", "ANT-1", 3, None),
             DemandLine("WH-1", "OTHER", 9, None), DemandLine("WH-2", "ANT-1", 9, None)]
    policies = {POLICY.key: POLICY}
    assert demand_by_key(lines, policies, today, weighted=True) == {("WH-1", "ANT-1"): (4, 2)}
    assert demand_by_key(lines, policies, today, weighted=False) == {("WH-1", "ANT-1"): (7, 2)}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-20, 20), st.integers(0, 8), st.booleans()), min_size=1, max_size=30))
def test_any_sequence_of_stock_and_demand_keeps_at_most_one_open_request_sized_to_the_target(
        steps: list[tuple[int, int, bool]]) -> None:
    """Whatever happens to a key, there is at most one open request, its
    quantity never shrinks while it is open and always covers the gap to the
    target, and it closes only when stock came in and the point is reached."""
    on_hand, request, seq, closed = 15, None, 1, 0
    for delta, demand, arrival in steps:
        on_hand = max(on_hand + delta, 0)
        position = at(on_hand, demand=demand)
        change = decide(POLICY, position, request, next_seq=seq, now=T0, actor=SYSTEM, trigger="t",
                        correlation_id=None, arrived=arrival and delta > 0)
        if change is None:
            if request is not None:
                assert request.quantity >= POLICY.target - position.base or position.base >= POLICY.reorder_point
            else:
                assert position.base >= POLICY.reorder_point
            continue
        if change.kind == "opened":
            assert request is None and change.request.quantity == POLICY.target - position.base
            request, seq = change.request, seq + 1
        elif change.kind == "raised":
            assert request is not None and change.request.quantity > request.quantity
            request = change.request
        else:
            assert request is not None and position.base >= POLICY.reorder_point
            request, closed = None, closed + 1
