"""The allocation solvers (DESIGN.md section 3, Allocation run). Pure: no I/O
(the one exception keeps the solver library's banner off stdout: `_highs`).

Input: the candidate orders as `Demand`s, best-ranked first, and the stock
available per (warehouse, SKU). Output: a `Solution` naming the allocated
orders and, for every other one, why: its short lines (`needed`, and the
`available` left at its turn) and the higher-ranked allocated orders that
consumed the stock it needed (`blocked_by`).

- `greedy`: walk the ranking; an order is allocated only when every one of
  its lines fits what is left in its warehouse (all or none). Greedy is the
  lexicographically best selection by individual rank.
- `optimal`: an exact MILP (HiGHS) choosing the set that is lexicographically
  best by priority class: as many orders of the best class as the stock
  allows, then, with that fixed, as many of the next class, and so on (one
  solve per class). Within a class every order weighs the same, which is
  where it can beat greedy: greedy gives one large order the stock that
  three smaller ones of the same class needed.

The priority weight of a selection is the vector of orders filled per class
(best class first), compared lexicographically; `weight_score` folds it into
one exact integer (base = number of candidates + 1).
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

StockKey = tuple[str, str]  # (warehouse_id, sku)

_first_highs = threading.Lock()
_highs_made = False


def _highs() -> Any:
    """A HiGHS solver with its output off. HiGHS prints a banner from C on
    file descriptor 1 when a process makes its first solver, before any
    option can turn it off; that would land in `oms allocate --json` and
    anything piping stdout. The first one is made with descriptor 1 pointed
    at stderr (so nothing written meanwhile is lost), the rest need nothing."""
    import highspy

    global _highs_made
    with _first_highs:
        if _highs_made:
            highs = highspy.Highs()  # type: ignore[no-untyped-call]
        else:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                os.dup2(2, 1)
                highs = highspy.Highs()  # type: ignore[no-untyped-call]
                ctypes.CDLL(None).fflush(None)  # C's buffer, while it still points at stderr
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _highs_made = True
    highs.setOptionValue("output_flag", False)
    return highs

BLOCKED_BY_LIMIT = 10  # a short order names at most this many blockers: the last to draw on its SKUs


@dataclass(frozen=True)
class Demand:
    """One candidate order: what it needs, per SKU, from one warehouse."""

    order_id: str
    warehouse_id: str
    lines: Mapping[str, int]
    priority_class: int = 0  # dense, 0 = best


@dataclass(slots=True)
class Shortfall:
    sku: str
    needed: int
    available: int

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "needed": self.needed, "available": self.available}


@dataclass(slots=True)
class Verdict:
    order_id: str
    rank: int  # 1 = first
    allocated: bool
    shortfall: list[Shortfall] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)


@dataclass
class Solution:
    mode: str
    verdicts: list[Verdict]  # one per demand, in rank order
    weight: tuple[int, ...]  # orders filled per priority class, best class first
    classes: tuple[int, ...]  # orders per priority class
    remaining: dict[StockKey, int]
    solve_seconds: float
    status: str = "heuristic"  # greedy: heuristic; optimal: optimal | time_limit | fallback_greedy
    gap: float | None = None  # relative MIP gap of the class the time limit stopped (0 when proven)
    levels: list[dict[str, Any]] = field(default_factory=list)

    @property
    def allocated(self) -> list[str]:
        return [v.order_id for v in self.verdicts if v.allocated]

    @property
    def weight_score(self) -> int:
        return weight_score(self.weight, sum(self.classes))


def weight_score(weight: Sequence[int], candidates: int) -> int:
    """One integer ordering selections exactly like their weight vectors."""
    base = candidates + 1
    score = 0
    for filled in weight:
        score = score * base + filled
    return score


# ------------------------------------------------------------------ encoding
@dataclass
class _Problem:
    demands: Sequence[Demand]
    keys: list[StockKey]
    avail: list[int]
    lines: list[tuple[tuple[int, int], ...]]  # per demand: (key index, qty)
    n_classes: int


def _encode(demands: Sequence[Demand], stock: Mapping[StockKey, int]) -> _Problem:
    index: dict[StockKey, int] = {}
    keys: list[StockKey] = []
    avail: list[int] = []
    for key, qty in stock.items():
        index[key] = len(keys)
        keys.append(key)
        avail.append(max(int(qty), 0))  # an over-reserved row has nothing to give
    encoded = []
    for demand in demands:
        row = []
        for sku, qty in demand.lines.items():
            if qty <= 0:
                continue
            key = (demand.warehouse_id, sku)
            k = index.get(key)
            if k is None:  # no stock row: nothing available (the caller rejects such orders first)
                k = index[key] = len(keys)
                keys.append(key)
                avail.append(0)
            row.append((k, int(qty)))
        encoded.append(tuple(row))
    n_classes = max((d.priority_class for d in demands), default=-1) + 1
    return _Problem(demands, keys, avail, encoded, n_classes)


def _class_sizes(problem: _Problem) -> tuple[int, ...]:
    sizes = [0] * problem.n_classes
    for demand in problem.demands:
        sizes[demand.priority_class] += 1
    return tuple(sizes)


def _weight(problem: _Problem, taken: Sequence[bool]) -> tuple[int, ...]:
    filled = [0] * problem.n_classes
    for demand, chosen in zip(problem.demands, taken, strict=True):
        if chosen:
            filled[demand.priority_class] += 1
    return tuple(filled)


def _walk(lines: Sequence[tuple[tuple[int, int], ...]], avail: list[int], taken: list[bool],
          order: Sequence[int]) -> None:
    """The greedy walk over `order` (indexes, best first); `avail` and `taken`
    are updated in place. A tight loop: it is the hot path of every run."""
    for i in order:
        row = lines[i]
        for k, q in row:
            if avail[k] < q:
                break
        else:
            for k, q in row:
                avail[k] -= q
            taken[i] = True


def _explain(problem: _Problem, taken: Sequence[bool], at_turn: bool, final: list[int]) -> list[Verdict]:
    """Verdicts for every demand. With `at_turn` (greedy) a short order's
    `available` is what was left when its turn came and its blockers are the
    allocated orders ranked before it; otherwise (optimal) both are taken
    against the whole selection.

    One replay of the selection in rank order: the stock left and, per stock
    key, the last BLOCKED_BY_LIMIT allocated orders that drew on it are kept
    up to date as it goes, so each short order reads them at its turn (or, not
    at its turn, at the end) in time proportional to its own lines."""
    keys, demands, lines = problem.keys, problem.demands, problem.lines
    left = list(problem.avail)
    last: dict[int, deque[int]] = {}  # per stock key: the last allocated orders drawing on it, in rank order
    verdicts: list[Verdict | None] = []
    short: list[int] = []
    for i, chosen in enumerate(taken):
        if not chosen:
            if at_turn:
                verdicts.append(_short(demands[i].order_id, i, lines[i], left, last, keys, demands))
            else:
                verdicts.append(None)  # filled in below, against the whole selection
                short.append(i)
            continue
        verdicts.append(Verdict(demands[i].order_id, i + 1, True))
        for k, q in lines[i]:
            left[k] -= q
            drew = last.get(k)
            if drew is None:
                last[k] = deque((i,), maxlen=BLOCKED_BY_LIMIT)
            else:
                drew.append(i)
    for i in short:
        verdicts[i] = _short(demands[i].order_id, i, lines[i], final, last, keys, demands)
    return cast(list[Verdict], verdicts)


def _short(order_id: str, i: int, row: tuple[tuple[int, int], ...], available: Sequence[int],
           last: Mapping[int, deque[int]], keys: Sequence[StockKey], demands: Sequence[Demand]) -> Verdict:
    shortfall = []
    blockers: list[int] = []
    for k, q in row:
        if available[k] < q:
            shortfall.append(Shortfall(keys[k][1], q, max(available[k], 0)))
            blockers.extend(last.get(k, ()))  # the orders that drew the last units before its turn
    if len(shortfall) > 1:
        blockers = sorted(set(blockers))[-BLOCKED_BY_LIMIT:]
    return Verdict(order_id, i + 1, False, shortfall, [demands[b].order_id for b in blockers])


# -------------------------------------------------------------------- greedy
def greedy(demands: Sequence[Demand], stock: Mapping[StockKey, int]) -> Solution:
    """All-or-none by rank: `demands` best first. `solve_seconds` is the walk
    alone; what each short order saw at its turn is rebuilt afterwards."""
    problem = _encode(demands, stock)
    avail = list(problem.avail)
    taken = [False] * len(demands)
    started = time.perf_counter()
    _walk(problem.lines, avail, taken, range(len(demands)))
    solved = time.perf_counter() - started
    return Solution(
        mode="greedy",
        verdicts=_explain(problem, taken, True, avail),
        weight=_weight(problem, taken),
        classes=_class_sizes(problem),
        remaining={problem.keys[k]: v for k, v in enumerate(avail)},
        solve_seconds=solved,
    )


# ------------------------------------------------------------------- optimal
def optimal(demands: Sequence[Demand], stock: Mapping[StockKey, int], *, time_limit: float = 30.0,
            gap: float = 0.0) -> Solution:
    """The lexicographically best selection by priority class (one MILP solve
    per class). When the time limit stops a class, its best selection found
    is kept, the classes after it are filled greedily, and the gap says how
    far from proven it is. `gap`: a class may stop once proven within this
    share of its best (never less than one order: 0 proves it optimal).

    Each class's model is only what can change its answer: the classes after
    it are fixed out (they weigh nothing yet and only take stock), the
    classes before it keep their counts (one row each), and its warm start is
    the selection so far completed greedily, by rank, with its own orders."""
    import highspy  # imported late: the greedy path needs no solver
    import numpy as np

    problem = _encode(demands, stock)
    n = len(demands)
    started = time.perf_counter()
    base = greedy(demands, stock)
    base_taken = [v.allocated for v in base.verdicts]

    # Orders that cannot fit even alone never enter the model; nor do rows no
    # selection could overfill.
    fits = [all(problem.avail[k] >= q for k, q in row) for row in problem.lines]
    cols = [i for i in range(n) if fits[i] and problem.lines[i]]
    demand_per_key = [0] * len(problem.keys)
    for i in cols:
        for k, q in problem.lines[i]:
            demand_per_key[k] += q
    rows = {k: r for r, k in enumerate(k for k in range(len(problem.keys))
                                       if demand_per_key[k] > problem.avail[k])}
    starts, index, values = [0], [], []
    for i in cols:
        for k, q in problem.lines[i]:
            r = rows.get(k)
            if r is not None:
                index.append(r)
                values.append(float(q))
        starts.append(len(index))

    taken = list(base_taken)
    levels: list[dict[str, Any]] = []
    status: str = "optimal"
    result_gap: float | None = 0.0
    if cols and rows:
        highs = _highs()
        highs.setOptionValue("mip_rel_gap", float(gap))
        highs.setOptionValue("mip_abs_gap", 0.999)  # objectives are whole orders: < 1 proves optimality
        lp = highspy.HighsLp()
        lp.num_col_ = len(cols)
        lp.num_row_ = len(rows)
        lp.col_cost_ = np.zeros(len(cols))
        lp.col_lower_ = np.zeros(len(cols))
        lp.col_upper_ = np.ones(len(cols))
        lp.row_lower_ = np.full(len(rows), -highspy.kHighsInf)
        lp.row_upper_ = np.array([float(problem.avail[k]) for k in rows])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(values)
        lp.integrality_ = [highspy.HighsVarType.kInteger] * len(cols)
        lp.sense_ = highspy.ObjSense.kMaximize
        all_cols = np.arange(len(cols), dtype=np.int32)
        col_class = np.array([demands[i].priority_class for i in cols])
        lp.col_upper_ = np.where(col_class == col_class.min(), 1.0, 0.0)  # later classes fixed out
        highs.passModel(lp)
        incumbent = np.array([1.0 if taken[i] else 0.0 for i in cols])
        for cls in range(problem.n_classes):
            members = [c for c, i in enumerate(cols) if demands[i].priority_class == cls]
            if not members:
                continue
            left = time_limit - (time.perf_counter() - started)
            if left <= 0:  # no time for this class: its gap is unknown
                status, result_gap = "time_limit", None
                break
            class_started = time.perf_counter()
            member_cols = np.array(members, dtype=np.int32)
            highs.changeColsBounds(len(members), member_cols, np.zeros(len(members)), np.ones(len(members)))
            cost = np.zeros(len(cols))
            cost[members] = 1.0
            highs.changeColsCost(len(cols), all_cols, cost)
            highs.setOptionValue("time_limit", float(left))
            highs.setSolution(len(cols), all_cols, _warm_start(problem, cols, col_class, incumbent, cls))
            highs.run()
            info = highs.getInfo()
            solution = np.array(highs.getSolution().col_value)
            model_status = highs.modelStatusToString(highs.getModelStatus())
            if len(solution) != len(cols) or not np.isfinite(info.objective_function_value):
                status, result_gap = "time_limit", None
                break
            value = round(info.objective_function_value)
            proven = model_status == "Optimal"  # within `gap` of the bound (or of one order)
            bound = math.floor(info.mip_dual_bound + 1e-6) if np.isfinite(info.mip_dual_bound) else value
            level_gap = max(0.0, (bound - value) / max(abs(bound), 1.0))
            levels.append({"class": cls, "orders": len(members), "filled": value, "status": model_status,
                           "gap": round(level_gap, 6), "seconds": round(time.perf_counter() - class_started, 3)})
            incumbent = np.round(solution)
            highs.addRow(float(value), highspy.kHighsInf, len(members), member_cols, np.ones(len(members)))
            result_gap = max(result_gap or 0.0, level_gap)
            if not proven:
                status, result_gap = "time_limit", level_gap
                break
        chosen = [False] * n
        for c, i in enumerate(cols):
            chosen[i] = incumbent[c] > 0.5
        taken = chosen

    # Whatever still fits after the chosen set (classes the time limit did not
    # reach, or ties) is taken by rank, so nothing is left that could go.
    avail = list(problem.avail)
    for i, chosen_i in enumerate(taken):
        if chosen_i:
            for k, q in problem.lines[i]:
                avail[k] -= q
    if any(a < 0 for a in avail):
        raise AssertionError("the MILP selection overfills the stock")  # never: the model forbids it
    _walk(problem.lines, avail, taken, [i for i in range(n) if not taken[i]])
    if _weight(problem, taken) < base.weight:  # only when a time limit cut the search short
        taken, status = base_taken, "fallback_greedy"
        avail = [base.remaining[key] for key in problem.keys]
    solved = time.perf_counter() - started
    return Solution(
        mode="optimal",
        verdicts=_explain(problem, taken, False, avail),
        weight=_weight(problem, taken),
        classes=_class_sizes(problem),
        remaining={problem.keys[k]: v for k, v in enumerate(avail)},
        solve_seconds=solved,
        status=status,
        gap=result_gap,
        levels=levels,
    )


def _warm_start(problem: _Problem, cols: Sequence[int], col_class: Any, incumbent: Any, cls: int) -> Any:
    """A start for class `cls`'s solve: the selection of the classes before it
    (as their solves left it), completed by the greedy walk with this class's
    orders in rank order; the classes after it take nothing yet."""
    start = incumbent * (col_class < cls)
    avail = list(problem.avail)
    for c in start.nonzero()[0]:
        for k, q in problem.lines[cols[c]]:
            avail[k] -= q
    members = [c for c in range(len(cols)) if col_class[c] == cls]
    taken = [False] * len(cols)
    _walk([problem.lines[cols[c]] for c in range(len(cols))], avail, taken, members)
    start[[c for c in members if taken[c]]] = 1.0
    return start


def compare(greedy_solution: Solution, optimal_solution: Solution) -> dict[str, Any]:
    """What greedy leaves on the table, by the optimal selection."""
    g, o = set(greedy_solution.allocated), set(optimal_solution.allocated)
    return {
        "greedy_weight": list(greedy_solution.weight),
        "optimal_weight": list(optimal_solution.weight),
        "greedy_allocated": len(g),
        "optimal_allocated": len(o),
        "gained": sorted(o - g),  # the optimal selection fills these, greedy does not
        "displaced": sorted(g - o),  # greedy fills these, the optimal selection does not
        "better": optimal_solution.weight > greedy_solution.weight,
    }
