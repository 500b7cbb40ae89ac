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
  level per class, each split into independent components solved alone:
  `_Lexicographic`). Within a class every order weighs the same, which is
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
    return _greedy(_encode(demands, stock))


def _greedy(problem: _Problem) -> Solution:
    avail = list(problem.avail)
    taken = [False] * len(problem.demands)
    started = time.perf_counter()
    _walk(problem.lines, avail, taken, range(len(taken)))
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
_INACTIVE, _FREE, _ONE, _ZERO = 0, 1, 2, 3  # an order's state in the lexicographic search
_MAKE_PER_COLUMN = 3e-5  # seconds to make a component's model and warm start, per column (loaded machine)


def optimal(demands: Sequence[Demand], stock: Mapping[StockKey, int], *, time_limit: float = 30.0,
            gap: float = 0.0) -> Solution:
    """The lexicographically best selection by priority class: one level per
    class, each a set of small MILPs (HiGHS). `gap`: a level may stop once
    proven within this share of its best count (never less than one order: 0
    proves it optimal). `time_limit` covers the whole call; each level gets a
    share of what is left (by how many orders it still has to decide, each
    later class's halved per class), each of its components a share of the
    level's. A level its share stopped keeps its best selection found, later
    levels still run with its counts kept, and `gap` is that first stopped
    level's (the later ones' are in `levels`); a component the time does not
    reach keeps its warm start, bounded by its class's orders alone; the gap
    is unknown (None) only when the time ran out before anything was solved.
    Whatever still fits at the end is taken by rank, and a result
    lexicographically below greedy's falls back to it.

    What makes it fast (`_Lexicographic`): an order that cannot fit, or whose
    stock keys have room for every order that fits, is decided before any
    solve; a level's model holds only the stock keys its classes can
    overfill, and splits into independent components (orders linked by such
    keys), each solved alone, where the classes before keep their count per
    component (exact: a lexicographic optimum is optimal in every
    component); a class whose every order in a component is taken stays so."""
    started = time.perf_counter()
    problem = _encode(demands, stock)
    n = len(demands)
    base_left = list(problem.avail)  # greedy's selection (the floor), without its explanation
    base_taken = [False] * n
    _walk(problem.lines, base_left, base_taken, range(n))
    base_weight = _weight(problem, base_taken)
    # The end (the walk over what is left, the explanation) costs about three
    # times the encoding and the walk: four times that is kept for it, and 5 %
    # of the limit for what the solves overrun.
    reserve = min(4 * (time.perf_counter() - started) + 0.05 * time_limit, time_limit / 4)
    search = _Lexicographic(problem, float(gap), started + time_limit - reserve)
    search.run()
    taken, status, result_gap, levels = search.taken, search.status, search.gap, search.levels
    for level in levels:
        level["greedy"] = base_weight[level["class"]]

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
    if _weight(problem, taken) < base_weight:  # only when a time limit cut the search short
        taken, status, avail = base_taken, "fallback_greedy", base_left
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


class _Lexicographic:
    """The search behind `optimal`. Every order is INACTIVE until its class's
    level, then FREE (a variable), or decided for good: ONE (in every
    lexicographically best selection: it is taken and its stock is gone from
    `resid`) or ZERO (it cannot fit beside the ONE orders).

    Level `c`: the FREE orders of classes <= c and the stock keys they could
    overfill together (`binding`: their demand above `resid`); a FREE order
    with no binding key is taken (nothing it uses is short). The rest fall
    into components linked by binding keys; a component without a class-c
    order is left as it is, each other one is a MILP: its class-c orders
    weigh 1, every earlier class keeps at least the count it has in the
    component, one row per binding key."""

    def __init__(self, problem: _Problem, gap: float, deadline: float) -> None:
        self.problem = problem
        self.mip_gap = gap
        self.deadline = deadline
        # A solve overruns its time limit by what it cannot interrupt (making
        # the model, presolve, the root's LP): the largest overrun seen so far
        # per column is kept back for every solve still to come.
        self.per_col = 5e-5
        self.level_making = 0.0  # the longest a level took to find its components
        self.levels_left = 0
        n, n_keys = len(problem.demands), len(problem.keys)
        self.cls = [d.priority_class for d in problem.demands]
        self.state = bytearray(n)
        self.taken = [False] * n
        self.resid = list(problem.avail)
        self.free_demand = [0] * n_keys
        self.free: list[int] = []
        self.members: list[list[int]] = [[] for _ in range(problem.n_classes)]
        self.by_class: list[list[int]] = [[] for _ in range(problem.n_classes)]  # undecided at the start
        self.binding: list[bool] = []
        self.status = "optimal"
        self.gap: float | None = 0.0  # the largest gap up to the first level a time limit stopped
        self.levels: list[dict[str, Any]] = []
        self.highs: Any = None
        lines, avail = problem.lines, problem.avail
        fits = [all(avail[k] >= q for k, q in row) for row in lines]
        total = [0] * n_keys
        for i, row in enumerate(lines):
            if fits[i]:
                for k, q in row:
                    total[k] += q
        for i, row in enumerate(lines):
            self.members[self.cls[i]].append(i)
            if not fits[i]:
                self.state[i] = _ZERO
            elif all(total[k] <= avail[k] for k, _ in row):  # room whatever happens
                self._one(i)
            else:
                self.by_class[self.cls[i]].append(i)

    def _one(self, i: int) -> None:
        self.state[i] = _ONE
        self.taken[i] = True
        for k, q in self.problem.lines[i]:
            self.resid[k] -= q

    def run(self) -> None:
        # Each level's share of what is left: by the orders it has to decide,
        # each later class's halved per class (a class outweighs the ones
        # after it, whose models hold every earlier class and gain least).
        undecided = [len(members) for members in self.by_class]
        for c in range(self.problem.n_classes):
            self.levels_left = sum(1 for u in undecided[c + 1:] if u)
            ahead = sum(u / 2 ** d for d, u in enumerate(undecided[c:]))
            if not self._level(c, undecided[c] / max(ahead, 1)):
                break

    def _level(self, c: int, share: float) -> bool:
        """Level `c`; False when the time ran out before anything was solved.
        Once the time is out, a component keeps its warm start and is bounded
        by its class's orders alone."""
        started = time.perf_counter()
        lines, resid, free_demand, state, taken = (self.problem.lines, self.resid, self.free_demand, self.state,
                                                   self.taken)
        for i in self.by_class[c]:
            if state[i] == _INACTIVE:
                state[i] = _FREE
                self.free.append(i)
                for k, q in lines[i]:
                    free_demand[k] += q
        # Orders that cannot fit beside the ONE orders are out for good (none
        # is taken: the selection so far fits beside them).
        still = []
        for i in self.free:
            if state[i] != _FREE:
                continue
            row = lines[i]
            if all(resid[k] >= q for k, q in row):
                still.append(i)
            else:
                state[i] = _ZERO
                taken[i] = False
                for k, q in row:
                    free_demand[k] -= q
        self.free = still
        binding = [free_demand[k] > resid[k] for k in range(len(resid))]
        parent = list(range(len(resid)))

        def find(k: int) -> int:
            while parent[k] != k:
                parent[k] = parent[parent[k]]
                k = parent[k]
            return k

        anchor: dict[int, int] = {}
        for i in still:
            first = -1
            for k, _ in lines[i]:
                if binding[k]:
                    if first < 0:
                        first = find(k)
                    else:
                        other = find(k)
                        if other != first:
                            parent[other] = first
            if first < 0:
                taken[i] = True  # nothing it uses is short
            else:
                anchor[i] = first
        groups: dict[int, list[int]] = {}
        for i, k in anchor.items():
            groups.setdefault(find(k), []).append(i)
        todo = [g for g in groups.values() if any(self.cls[i] == c for i in g)]
        weight = [sum(1 for i in g if self.cls[i] == c) for g in todo]
        level: dict[str, Any] = {"class": c, "orders": len(self.members[c]), "components": len(todo),
                                 "status": "Optimal"}
        self.binding = binding
        slack = 0  # the bound's excess over the selection, summed over the components
        proven = True
        if todo:
            # Kept back: what this level's solves cannot interrupt and, per
            # later level, the making of as many columns again (a component
            # the time does not reach keeps its warm start).
            size = sum(len(g) for g in todo)
            self.level_making = max(self.level_making, time.perf_counter() - started)
            later = (_MAKE_PER_COLUMN * size + self.level_making) * self.levels_left
            budget = (self.deadline - self.per_col * size - later - started) * share
            pending, pending_size = sum(weight), size
            for group, w in sorted(zip(todo, weight, strict=True), key=lambda gw: -gw[1]):
                now = time.perf_counter()
                if now >= self.deadline and self.highs is None:  # nothing solved yet: nothing known
                    self.status, self.gap = "time_limit", None
                    self._record(level, c, started, None)
                    return False
                pending_size -= len(group)
                ahead = self.per_col * len(group) + _MAKE_PER_COLUMN * pending_size + later
                seconds = max(budget - (now - started), 0.0) * w / max(pending, 1)
                # A small component finishes long before: it is never starved.
                seconds = min(max(seconds, 0.2), self.deadline - now - ahead)
                pending -= w
                value, bound, ok = self._solve(group, c, seconds)
                if seconds > 0 and len(group) >= 500:  # a small one's overrun is mostly the first solver's making
                    self.per_col = max(self.per_col, (time.perf_counter() - now - seconds) / len(group))
                slack += bound - value
                proven = proven and ok
        self._record(level, c, started, slack)
        if self.status == "optimal":  # the gap is the first stopped level's: the later ones' hang on its count
            self.gap = max(self.gap or 0.0, level["gap"])
        if not proven:
            level["status"] = "Time limit reached"
            self.status = "time_limit"

        return True

    def _record(self, level: dict[str, Any], c: int, started: float, slack: int | None) -> None:
        filled = sum(1 for i in self.members[c] if self.taken[i])
        level["filled"] = filled
        if slack is None:
            level["status"], level["gap"], level["bound"] = "Not started", None, None
        else:
            level["bound"] = filled + slack
            level["gap"] = round(slack / max(filled + slack, 1), 6)
        level["seconds"] = round(time.perf_counter() - started, 3)
        self.levels.append(level)

    def _solve(self, group: list[int], c: int, seconds: float) -> tuple[int, int, bool]:
        """One component of level `c`: (class-c orders taken, a bound on them,
        proven within the gap). The selection is updated in place."""
        import highspy
        import numpy as np

        started = time.perf_counter()

        lines, resid, taken, cls, binding = self.problem.lines, self.resid, self.taken, self.cls, self.binding
        size: dict[int, int] = {}
        count: dict[int, int] = {}
        for i in group:
            size[cls[i]] = size.get(cls[i], 0) + 1
            count[cls[i]] = count.get(cls[i], 0) + taken[i]
        cols = []
        for i in sorted(group):  # rank order
            if cls[i] != c and count[cls[i]] == size[cls[i]]:
                self._fix_one(i)  # its class needs every one of them here: taken in every best selection
            else:
                cols.append(i)
        kept = {j: r for r, j in enumerate(j for j in sorted(size) if j != c and 0 < count[j] < size[j])}
        rows: dict[int, int] = {}  # binding key -> row
        left: dict[int, int] = {}  # what the earlier classes' selection leaves of it
        for i in cols:
            for k, q in lines[i]:
                if binding[k]:
                    if k not in rows:
                        rows[k] = len(rows)
                        left[k] = resid[k]
                    if taken[i] and cls[i] != c:
                        left[k] -= q
        n_keys = len(rows)
        room = dict(left)
        # The warm start: the selection so far, completed with this class's
        # orders by the best of a few greedy walks, then one out for two in
        # while it finds some (a tenth of the component's time at most).
        start = np.array([1.0 if cls[i] != c and taken[i] else 0.0 for i in cols])
        own = [col for col, i in enumerate(cols) if cls[i] == c]
        own_rows = [[(k, q) for k, q in lines[cols[col]] if binding[k]] for col in own]
        walked = _best_walk(own_rows, left)
        if seconds > 0:
            _swap_in_two(own_rows, left, walked, time.perf_counter() + seconds / 10)
        start[own] = np.array(walked, dtype=float)
        cost = np.zeros(len(cols))
        cost[own] = 1.0
        n_class = len(own)
        if seconds <= 0:  # no time left for it: the start, bounded by this class's orders alone
            for col, i in enumerate(cols):
                taken[i] = bool(start[col] > 0.5)
            value = sum(walked)
            return value, n_class, value == n_class
        # Column-wise: a column's key rows, then its class's count row.
        starts, index, values = [0], list[int](), list[float]()
        for i in cols:
            for k, q in lines[i]:
                if binding[k]:
                    index.append(rows[k])
                    values.append(float(q))
            r = kept.get(cls[i])
            if r is not None:
                index.append(n_keys + r)
                values.append(1.0)
            starts.append(len(index))
        if 2 * len(own) < len(cols):
            # A better start, fast: this class alone in what the earlier
            # classes' selection leaves (they are held as they are).
            self._improve_start(cols, own, start, rows, room, seconds * 0.3)
        lower = np.full(n_keys + len(kept), -highspy.kHighsInf)
        upper = np.full(n_keys + len(kept), highspy.kHighsInf)
        for k, r in rows.items():
            upper[r] = float(resid[k])
        for j, r in kept.items():
            lower[n_keys + r] = float(count[j])
        highs = self._run(starts, index, values, lower, upper, cost, start,
                          max(seconds - (time.perf_counter() - started), 0.01))
        info = highs.getInfo()
        proven = highs.modelStatusToString(highs.getModelStatus()) == "Optimal"
        solution = np.round(np.array(highs.getSolution().col_value)) if len(cols) else start
        if (len(solution) != len(cols) or not self._fits(cols, solution, rows, kept, count, c)
                or solution @ cost < start @ cost):
            solution, proven = start, False  # nothing (better) found, or not exactly within the stock: the start
        value = int(solution @ cost)
        bound = n_class
        if proven and self.mip_gap == 0:
            bound = value
        elif np.isfinite(info.mip_dual_bound):
            bound = min(bound, math.floor(info.mip_dual_bound + 1e-6))
        bound = max(bound, value)
        for col, i in enumerate(cols):
            taken[i] = bool(solution[col] > 0.5)
        if value == n_class:  # every class-c order here is taken: so it stays
            for i in cols:
                if cls[i] == c:
                    self._fix_one(i)
        return value, bound, proven

    def _run(self, starts: list[int], index: list[int], values: list[float], lower: Any, upper: Any, cost: Any,
             start: Any, seconds: float) -> Any:
        """HiGHS on one model (binary columns, maximize `cost`) from `start`."""
        import highspy
        import numpy as np

        n_cols = len(starts) - 1
        lp = highspy.HighsLp()
        lp.num_col_ = n_cols
        lp.num_row_ = len(lower)
        lp.col_cost_ = cost
        lp.col_lower_ = np.zeros(n_cols)
        lp.col_upper_ = np.ones(n_cols)
        lp.row_lower_ = lower
        lp.row_upper_ = upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(values)
        lp.integrality_ = [highspy.HighsVarType.kInteger] * n_cols
        lp.sense_ = highspy.ObjSense.kMaximize
        if self.highs is None:
            self.highs = _highs()
            self.highs.setOptionValue("mip_rel_gap", self.mip_gap)
            self.highs.setOptionValue("mip_abs_gap", 0.999)  # objectives are whole orders: < 1 proves optimality
        highs = self.highs
        highs.passModel(lp)
        highs.setOptionValue("time_limit", float(seconds))
        highs.setSolution(n_cols, np.arange(n_cols, dtype=np.int32), start)
        highs.run()
        return highs

    def _improve_start(self, cols: list[int], own: list[int], start: Any, rows: dict[int, int],
                       room: dict[int, int], seconds: float) -> None:
        """`start`'s class-c part re-chosen by a MILP of the class-c columns
        alone in `room` (what the rest of `start` leaves), if it finds more."""
        import highspy
        import numpy as np

        lines, binding = self.problem.lines, self.binding
        sub_rows: dict[int, int] = {}
        starts, index, values = [0], list[int](), list[float]()
        for col in own:
            for k, q in lines[cols[col]]:
                if binding[k]:
                    index.append(sub_rows.setdefault(k, len(sub_rows)))
                    values.append(float(q))
            starts.append(len(index))
        upper = np.zeros(len(sub_rows))
        for k, r in sub_rows.items():
            upper[r] = float(room[k])
        own_start = start[own]
        highs = self._run(starts, index, values, np.full(len(sub_rows), -highspy.kHighsInf), upper,
                          np.ones(len(own)), own_start, seconds)
        x = np.round(np.array(highs.getSolution().col_value))
        if len(x) != len(own) or x.sum() <= own_start.sum() or not all(v in (0.0, 1.0) for v in x):
            return
        used = dict.fromkeys(sub_rows, 0)
        for col, chosen in zip(own, x, strict=True):
            if chosen:
                for k, q in lines[cols[col]]:
                    if k in used:
                        used[k] += q
        if all(used[k] <= room[k] for k in sub_rows):
            start[own] = x

    def _fits(self, cols: list[int], x: Any, rows: dict[int, int], kept: dict[int, int], count: dict[int, int],
              c: int) -> bool:
        used = dict.fromkeys(rows, 0)
        filled = dict.fromkeys(kept, 0)
        for col, i in enumerate(cols):
            if x[col] > 0.5:
                for k, q in self.problem.lines[i]:
                    if k in used:
                        used[k] += q
                if self.cls[i] in filled:
                    filled[self.cls[i]] += 1
        return (all(used[k] <= self.resid[k] for k in rows) and all(filled[j] >= count[j] for j in kept)
                and all(v in (0.0, 1.0) for v in x))

    def _fix_one(self, i: int) -> None:
        """A FREE order taken in every best selection from now on."""
        self.state[i] = _ONE
        self.taken[i] = True
        for k, q in self.problem.lines[i]:
            self.resid[k] -= q
            self.free_demand[k] -= q


def _best_walk(rows: Sequence[Sequence[tuple[int, int]]], room: Mapping[int, int]) -> list[bool]:
    """As many of `rows` (each its (key, qty) lines) as fit `room`, by the
    best of three walks: in the given (rank) order, and smallest first by the
    share of each key's room a row takes, plain and weighted by how
    oversubscribed the key is."""
    asked: dict[int, int] = {}
    for row in rows:
        for k, q in row:
            asked[k] = asked.get(k, 0) + q
    share = [sum(q / max(room[k], 0.5) for k, q in row) for row in rows]
    pressed = [sum(q * asked[k] / max(room[k], 0.5) ** 2 for k, q in row) for row in rows]
    best: list[bool] = []
    for order in (range(len(rows)), sorted(range(len(rows)), key=share.__getitem__),
                  sorted(range(len(rows)), key=pressed.__getitem__)):
        left = dict(room)
        chosen = [False] * len(rows)
        for r in order:
            row = rows[r]
            if all(left[k] >= q for k, q in row):
                for k, q in row:
                    left[k] -= q
                chosen[r] = True
        if sum(chosen) > sum(best):
            best = chosen
    return best or [False] * len(rows)


def _swap_in_two(rows: Sequence[Sequence[tuple[int, int]]], room: Mapping[int, int], chosen: list[bool],
                 until: float) -> None:
    """Local search on `chosen` (rows that fit `room` together), in place:
    a chosen row is dropped whenever two or more rows short only where it
    frees stock fit once it is gone. Never leaves `room` overfilled."""
    left = dict(room)
    for r, row in enumerate(rows):
        if chosen[r]:
            for k, q in row:
                left[k] -= q
    share = [sum(q / max(room[k], 0.5) for k, q in row) for row in rows]
    improved = True
    while improved and time.perf_counter() < until:
        improved = False
        short_on: dict[int, list[int]] = {}  # per key, the rows left out that it is short of
        for r, row in enumerate(rows):
            if not chosen[r]:
                for k, q in row:
                    if left[k] < q:
                        short_on.setdefault(k, []).append(r)
        for i in sorted((r for r in range(len(rows)) if chosen[r]), key=share.__getitem__, reverse=True):
            if time.perf_counter() >= until:
                return
            candidates = {j for k, _ in rows[i] for j in short_on.get(k, ())}
            if len(candidates) < 2 or not chosen[i]:
                continue
            for k, q in rows[i]:
                left[k] += q
            added = []
            for j in sorted(candidates, key=share.__getitem__):
                if chosen[j] or j == i:
                    continue
                row = rows[j]
                if all(left[k] >= q for k, q in row):
                    for k, q in row:
                        left[k] -= q
                    added.append(j)
            if len(added) >= 2:
                chosen[i] = False
                for j in added:
                    chosen[j] = True
                improved = True
                continue
            for j in added:
                for k, q in rows[j]:
                    left[k] += q
            for k, q in rows[i]:
                left[k] -= q


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
