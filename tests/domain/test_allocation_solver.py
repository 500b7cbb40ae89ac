"""The solvers, on any orders and stock (hypothesis): greedy is all-or-none,
never over-allocates and never passes over an order that fits at its turn;
the optimal selection is lexicographically best by priority class."""

from __future__ import annotations

from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from common.domain.allocation import Demand, Solution, StockKey, compare, greedy, optimal, weight_score

WAREHOUSES = ("W1", "W2")
SKUS = ("A", "B", "C")


@st.composite
def problems(draw: st.DrawFn, max_orders: int = 14) -> tuple[list[Demand], dict[StockKey, int]]:
    n = draw(st.integers(0, max_orders))
    demands = []
    for i in range(n):
        skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True))
        lines = {sku: draw(st.integers(1, 6)) for sku in skus}
        demands.append(Demand(f"o{i:02d}", draw(st.sampled_from(WAREHOUSES)), lines, draw(st.integers(0, 2))))
    stock = {}
    for key in product(WAREHOUSES, SKUS):
        if draw(st.integers(0, 5)):  # now and then a SKU without a stock row
            stock[key] = draw(st.integers(-2, 14))  # negative: a snapshot below what is reserved
    return demands, stock


def used(demands: list[Demand], solution: Solution) -> dict[StockKey, int]:
    chosen = set(solution.allocated)
    total: dict[StockKey, int] = {}
    for d in demands:
        if d.order_id in chosen:
            for sku, qty in d.lines.items():
                total[(d.warehouse_id, sku)] = total.get((d.warehouse_id, sku), 0) + qty
    return total


def assert_within_stock(demands: list[Demand], stock: dict[StockKey, int], solution: Solution) -> None:
    for key, qty in used(demands, solution).items():
        assert qty <= max(stock.get(key, 0), 0), f"{key} over-allocated"
    for key, left in solution.remaining.items():  # whole orders came out of stock, nothing else
        assert left == max(stock.get(key, 0), 0) - used(demands, solution).get(key, 0)


def best_weight(demands: list[Demand], stock: dict[StockKey, int]) -> tuple[int, ...]:
    """Brute force: the lexicographically best feasible selection."""
    n_classes = max((d.priority_class for d in demands), default=-1) + 1
    best = (0,) * n_classes
    for mask in range(1 << len(demands)):
        total: dict[StockKey, int] = {}
        filled = [0] * n_classes
        for i, d in enumerate(demands):
            if mask >> i & 1:
                filled[d.priority_class] += 1
                for sku, qty in d.lines.items():
                    total[(d.warehouse_id, sku)] = total.get((d.warehouse_id, sku), 0) + qty
        if all(q <= max(stock.get(k, 0), 0) for k, q in total.items()):
            best = max(best, tuple(filled))
    return best


@settings(max_examples=80, deadline=None)
@given(problems())
def test_greedy_never_over_allocates_and_takes_whole_orders(problem: tuple[list[Demand], dict[StockKey, int]]) -> None:
    demands, stock = problem
    assert_within_stock(demands, stock, greedy(demands, stock))


@settings(max_examples=80, deadline=None)
@given(problems())
def test_greedy_never_passes_over_an_order_that_fits_at_its_turn(
        problem: tuple[list[Demand], dict[StockKey, int]]) -> None:
    demands, stock = problem
    solution = greedy(demands, stock)
    left = {k: max(v, 0) for k, v in stock.items()}
    for demand, verdict in zip(demands, solution.verdicts, strict=True):
        fits = all(left.get((demand.warehouse_id, s), 0) >= q for s, q in demand.lines.items())
        assert verdict.allocated == fits, f"{demand.order_id}: fits={fits} but allocated={verdict.allocated}"
        if fits:
            for sku, qty in demand.lines.items():
                left[(demand.warehouse_id, sku)] -= qty
        else:  # the shortfall names exactly the short lines, with what was left at its turn
            expected = [(s, q, left.get((demand.warehouse_id, s), 0)) for s, q in demand.lines.items()
                        if left.get((demand.warehouse_id, s), 0) < q]
            assert [(s.sku, s.needed, s.available) for s in verdict.shortfall] == expected


@settings(max_examples=60, deadline=None)
@given(problems(max_orders=9))
def test_optimal_is_lexicographically_best_and_never_below_greedy(
        problem: tuple[list[Demand], dict[StockKey, int]]) -> None:
    demands, stock = problem
    base, best = greedy(demands, stock), optimal(demands, stock, time_limit=20)
    assert_within_stock(demands, stock, best)
    assert best.weight >= base.weight
    assert best.weight_score >= base.weight_score
    assert best.weight == best_weight(demands, stock)
    assert best.status == "optimal" and best.gap == 0.0


def test_short_order_names_the_higher_ranked_orders_that_took_its_stock() -> None:
    demands = [Demand("first", "W1", {"A": 6}), Demand("other", "W1", {"B": 1}),
               Demand("second", "W1", {"A": 3, "B": 1}), Demand("third", "W1", {"A": 5, "C": 1})]
    solution = greedy(demands, {("W1", "A"): 10, ("W1", "B"): 5})
    verdicts = {v.order_id: v for v in solution.verdicts}
    assert solution.allocated == ["first", "other", "second"]
    third = verdicts["third"]
    assert [(s.sku, s.needed, s.available) for s in third.shortfall] == [("A", 5, 1), ("C", 1, 0)]
    assert third.blocked_by == ["first", "second"]


def test_optimal_fills_two_orders_where_greedy_fills_one_big_one() -> None:
    demands = [Demand("big", "W1", {"A": 10}), Demand("s1", "W1", {"A": 5}), Demand("s2", "W1", {"A": 5}),
               Demand("low", "W1", {"A": 1}, priority_class=1)]
    stock = {("W1", "A"): 10}
    base, best = greedy(demands, stock), optimal(demands, stock)
    assert base.allocated == ["big"] and sorted(best.allocated) == ["s1", "s2"]
    table = compare(base, best)
    assert table["gained"] == ["s1", "s2"] and table["displaced"] == ["big"] and table["better"]
    big = next(v for v in best.verdicts if v.order_id == "big")
    assert big.blocked_by == ["s1", "s2"]


def test_a_better_class_always_outweighs_any_number_of_worse_ones() -> None:
    assert weight_score((1, 0), 5) > weight_score((0, 5), 5)
    assert weight_score((2, 0, 0), 9) > weight_score((1, 9, 9), 9)


def test_nothing_to_allocate_is_an_empty_solution() -> None:
    for solve in (greedy, optimal):
        solution = solve([], {("W1", "A"): 3})
        assert solution.allocated == [] and solution.weight == ()


def test_optimal_stopped_by_its_time_limit_is_never_below_greedy() -> None:
    demands = [Demand(f"o{i}", "W1", {"A": 1 + i % 4, "B": 1 + i % 3}, i % 3) for i in range(40)]
    stock = {("W1", "A"): 30, ("W1", "B"): 25}
    base = greedy(demands, stock)
    stopped = optimal(demands, stock, time_limit=1e-9)
    assert stopped.status == "time_limit" and stopped.gap is None
    assert stopped.weight >= base.weight
    assert_within_stock(demands, stock, stopped)
