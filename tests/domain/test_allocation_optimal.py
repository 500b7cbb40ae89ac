"""The optimal mode's search (issue 15): orders decided before any solve,
independent components solved alone, warm starts from the best of a few
greedy walks, levels that keep going after one is stopped. Whatever it
skips, the answer is the brute force's on small problems; stopped early, it
stays whole orders within stock and never gives up a better class's count."""

from __future__ import annotations

import time
from itertools import product
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

import common.domain.allocation as allocation
from common.domain.allocation import Demand, StockKey, _best_walk, _swap_in_two, greedy, optimal
from tests.domain.test_allocation_solver import assert_within_stock, best_weight

WAREHOUSES = ("W1", "W2", "W3")
SKUS = ("A", "B", "C", "D")


@st.composite
def problems(draw: st.DrawFn, max_orders: int = 10) -> tuple[list[Demand], dict[StockKey, int]]:
    """More warehouses and SKUs than the solver suite's, stock now and then
    plentiful: several components, orders decided before any solve, classes
    whose every order in a component is taken."""
    n = draw(st.integers(0, max_orders))
    demands = []
    for i in range(n):
        skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3, unique=True))
        lines = {sku: draw(st.integers(0, 6)) for sku in skus}  # 0: a line that asks nothing
        demands.append(Demand(f"o{i:02d}", draw(st.sampled_from(WAREHOUSES)), lines, draw(st.integers(0, 3))))
    stock = {}
    for key in product(WAREHOUSES, SKUS):
        if draw(st.integers(0, 5)):
            stock[key] = draw(st.sampled_from((-1, 0, 2, 5, 8, 12, 40)))
    return demands, stock


@settings(max_examples=120, deadline=None)
@given(problems())
def test_the_decomposed_search_finds_the_brute_forces_best(problem: tuple[list[Demand], dict[StockKey, int]]) -> None:
    demands, stock = problem
    base, best = greedy(demands, stock), optimal(demands, stock, time_limit=20)
    assert_within_stock(demands, stock, best)
    assert best.weight == best_weight(demands, stock)
    assert best.weight >= base.weight
    assert best.status == "optimal" and best.gap == 0.0
    for level in best.levels:  # each level's report: proven, its bound its count, greedy's count beside it
        assert level["gap"] == 0.0 and level["bound"] == level["filled"] == best.weight[level["class"]]
        assert level["greedy"] == base.weight[level["class"]]


@settings(max_examples=80, deadline=None)
@given(problems(max_orders=12))
def test_stopped_at_every_solve_it_keeps_whole_orders_within_stock_and_never_gives_up_a_better_class(
        problem: tuple[list[Demand], dict[StockKey, int]]) -> None:
    """Every MILP stopped at once (it keeps its warm start or what it found):
    the levels after still run, and no class ends below what its level had."""
    demands, stock = problem
    run = allocation._Lexicographic._run

    def stopped(self: Any, *args: Any) -> Any:
        return run(self, *args[:-1], 1e-6)

    with mock.patch.object(allocation._Lexicographic, "_run", stopped):
        result = optimal(demands, stock, time_limit=20)
    assert_within_stock(demands, stock, result)
    assert result.weight >= greedy(demands, stock).weight
    assert result.status in ("optimal", "time_limit")
    for level in result.levels:
        assert level["filled"] <= result.weight[level["class"]]
        assert level["filled"] <= level["bound"]
    stopped_at = next((level for level in result.levels if level["status"] != "Optimal"), None)
    if stopped_at is None:
        assert result.status == "optimal" and result.gap == 0.0
    else:  # the gap is the first stopped level's: the later ones' are counted on its selection
        assert result.status == "time_limit" and result.gap == stopped_at["gap"]


def test_orders_with_room_whatever_happens_are_taken_without_a_solve() -> None:
    demands = [Demand("a", "W1", {"A": 4}), Demand("b", "W1", {"A": 5, "B": 1}, 1), Demand("c", "W2", {"A": 9}, 2)]
    with mock.patch.object(allocation._Lexicographic, "_run", side_effect=AssertionError("no solve needed")):
        result = optimal(demands, {("W1", "A"): 9, ("W1", "B"): 1, ("W2", "A"): 9})
    assert sorted(result.allocated) == ["a", "b", "c"] and result.status == "optimal"
    assert [level["components"] for level in result.levels] == [0, 0, 0]


def test_warehouses_that_share_nothing_are_solved_as_separate_components() -> None:
    demands = []
    for wh in ("W1", "W2"):
        demands += [Demand(f"{wh}-big", wh, {"A": 10}), Demand(f"{wh}-s1", wh, {"A": 5}),
                    Demand(f"{wh}-s2", wh, {"A": 5})]
    result = optimal(demands, {("W1", "A"): 10, ("W2", "A"): 10})
    assert sorted(result.allocated) == ["W1-s1", "W1-s2", "W2-s1", "W2-s2"]
    assert result.levels[0]["components"] == 2 and result.levels[0]["greedy"] == 2


def test_a_better_class_is_never_traded_for_more_orders_of_a_worse_one() -> None:
    demands = [Demand("high", "W1", {"A": 10}, 0)] + [Demand(f"low{i}", "W1", {"A": 2}, 1) for i in range(5)]
    result = optimal(demands, {("W1", "A"): 10})
    assert result.allocated == ["high"] and result.weight == (1, 0)


def test_an_order_that_cannot_fit_stays_out_and_names_its_shortfall() -> None:
    demands = [Demand("huge", "W1", {"A": 11}), Demand("s1", "W1", {"A": 6}), Demand("s2", "W1", {"A": 5}),
               Demand("s3", "W1", {"A": 5})]
    result = optimal(demands, {("W1", "A"): 10})
    assert sorted(result.allocated) == ["s2", "s3"]
    huge = result.verdicts[0]
    assert not huge.allocated and [(s.needed, s.available) for s in huge.shortfall] == [(11, 0)]


def _fits(rows: list[list[tuple[int, int]]], chosen: list[bool], room: dict[int, int]) -> bool:
    """Whether the chosen rows' demand fits the room on every key."""
    used = dict.fromkeys(room, 0)
    for row, taken in zip(rows, chosen, strict=True):
        if taken:
            for k, q in row:
                used[k] += q
    return all(used[k] <= room[k] for k in room)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6)), min_size=1, max_size=3,
                         unique_by=lambda line: line[0]), max_size=12),
       st.lists(st.integers(0, 15), min_size=4, max_size=4))
def test_the_warm_start_walk_fits_the_room_and_takes_at_least_what_the_rank_walk_does(
        rows: list[list[tuple[int, int]]], room_list: list[int]) -> None:
    room = dict(enumerate(room_list))
    chosen = _best_walk(rows, room)
    assert _fits(rows, chosen, room)
    left, by_rank = dict(room), 0
    for row in rows:
        if all(left[k] >= q for k, q in row):
            for k, q in row:
                left[k] -= q
            by_rank += 1
    assert sum(chosen) >= by_rank


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6)), min_size=1, max_size=3,
                         unique_by=lambda line: line[0]), max_size=14),
       st.lists(st.integers(0, 15), min_size=4, max_size=4), st.data())
def test_one_out_two_in_keeps_the_selection_within_room_and_never_smaller(
        rows: list[list[tuple[int, int]]], room_list: list[int], data: st.DataObject) -> None:
    room = dict(enumerate(room_list))
    chosen = _best_walk(rows, room)
    if rows:  # any selection that fits, not only a walk's
        drop = data.draw(st.sets(st.integers(0, len(rows) - 1)))
        chosen = [taken and r not in drop for r, taken in enumerate(chosen)]
    before = sum(chosen)
    _swap_in_two(rows, room, chosen, time.perf_counter() + 5)
    assert _fits(rows, chosen, room)
    assert sum(chosen) >= before
