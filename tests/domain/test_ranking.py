"""The ranking policy: which Approved order gets stock first."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from common.domain.models import Order
from common.domain.ranking import RankingPolicy, class_indexes, excluded, priority_class, rank

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def order(order_id: str, **fields: Any) -> Order:
    base: dict[str, Any] = {"order_id": order_id, "order_number": order_id, "project_id": "P", "site_code": "S",
                            "order_type": "NewBuild", "seq": 1, "national_priority": 2, "plan_type": "Coverage",
                            "approved_at": T0, "created_at": T0, "updated_at": T0}
    base.update(fields)
    return Order(**base)


POLICY = RankingPolicy(plan_type_ranks={"Coverage": 1, "Capacity": 2},
                       order_type_ranks={"NewBuild": 1, "Upgrade": 2})


def ids(orders: list[Order]) -> list[str]:
    return [o.order_id for o in orders]


def test_national_priority_one_comes_first_and_none_comes_last() -> None:
    got = rank([order("p3", national_priority=3), order("none", national_priority=None),
                order("p1", national_priority=1)], POLICY)
    assert ids(got) == ["p1", "p3", "none"]


def test_gated_orders_come_after_their_priority_peers_but_before_lower_priorities() -> None:
    got = rank([order("gated", gated=True, national_priority=1), order("plain", national_priority=1),
                order("p2", national_priority=2)], POLICY)
    assert ids(got) == ["plain", "gated", "p2"]


def test_plan_type_then_order_type_rank_with_unranked_types_last() -> None:
    got = rank([order("cap", plan_type="Capacity"), order("odd", plan_type="Other"), order("cov-up",
                order_type="Upgrade"), order("cov-nb")], POLICY)
    assert ids(got) == ["cov-nb", "cov-up", "cap", "odd"]


def test_earlier_need_by_then_older_approval_then_order_id_break_ties() -> None:
    got = rank([order("late", need_by=date(2026, 12, 1)), order("b-old", approved_at=T0 - timedelta(days=1)),
                order("a-old", approved_at=T0 - timedelta(days=1)), order("soon", need_by=date(2026, 11, 5))],
               POLICY)
    assert ids(got) == ["soon", "late", "a-old", "b-old"]


def test_configured_keys_decide_the_order() -> None:
    oldest_first = RankingPolicy(keys=("approved_at",))
    got = rank([order("p1", national_priority=1, approved_at=T0), order("p3", national_priority=3,
                approved_at=T0 - timedelta(hours=1))], oldest_first)
    assert ids(got) == ["p3", "p1"]
    assert oldest_first.keys[-1] == "order_id"  # always a unique tie-break


def test_unknown_key_or_gated_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown ranking keys"):
        RankingPolicy(keys=("colour",))
    with pytest.raises(ValueError, match="gated policy"):
        RankingPolicy(gated_policy="ignore")  # type: ignore[arg-type]


def test_exclude_policy_excludes_gated_orders_only() -> None:
    policy = RankingPolicy(gated_policy="exclude")
    assert excluded(order("g", gated=True), policy) and not excluded(order("n"), policy)
    assert not excluded(order("g", gated=True), POLICY)


def test_priority_classes_put_gated_after_plain_of_the_same_priority() -> None:
    classes = [priority_class(o, POLICY) for o in (order("a", national_priority=1, gated=True),
                                                   order("b", national_priority=1), order("c", national_priority=2))]
    assert class_indexes(classes) == [1, 0, 2]
