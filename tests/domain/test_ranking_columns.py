"""`rank` (each key's values made once per order, a key at a time) orders
exactly as a stable sort by `rank_key`, whatever the keys and their order,
the type ranks, and values missing or repeated."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from common.domain.models import Order
from common.domain.ranking import RANK_KEYS, RankingPolicy, rank, rank_key

T0 = datetime(2026, 11, 1, tzinfo=UTC)
TYPES = ("Coverage", "Capacity", "Other", "NewBuild", "Upgrade")

orders = st.builds(
    lambda oid, priority, gated, plan, otype, need, approved: Order(
        order_id=f"P~S~{otype}~{oid}", order_number=str(oid), project_id="P", site_code="S", order_type=otype,
        seq=1, national_priority=priority, gated=gated, plan_type=plan,
        need_by=None if need is None else date(2026, 12, 1) + timedelta(days=need),
        approved_at=None if approved is None else T0 + timedelta(minutes=approved), created_at=T0, updated_at=T0),
    st.integers(0, 30), st.one_of(st.none(), st.integers(1, 5)), st.booleans(),
    st.one_of(st.none(), st.sampled_from(TYPES)), st.sampled_from(TYPES),
    st.one_of(st.none(), st.integers(0, 5)), st.one_of(st.none(), st.integers(0, 5)))

policies = st.builds(
    lambda keys, gated, plans, types: RankingPolicy(keys=tuple(keys), gated_policy=gated,
                                                    plan_type_ranks=plans, order_type_ranks=types),
    st.lists(st.sampled_from(RANK_KEYS), unique=True), st.sampled_from(("deprioritize", "exclude")),
    st.dictionaries(st.sampled_from(TYPES), st.integers(0, 3)),
    st.dictionaries(st.sampled_from(TYPES), st.integers(0, 3)))


@settings(max_examples=300, deadline=None)
@given(found=st.lists(orders, max_size=40), policy=policies)
def test_rank_is_a_stable_sort_by_rank_key(found: list[Order], policy: RankingPolicy) -> None:
    expected = sorted(found, key=lambda o: rank_key(o, policy))
    got = rank(iter(found), policy)
    assert [id(o) for o in got] == [id(o) for o in expected]
