"""Allocation solver benchmark (issue 6): synthetic Approved orders with 3-15
lines over 500 SKUs in 4 warehouses, stock for about half of the demand.

Prints, from one run: for 10,000 and 100,000 orders the greedy solve time
(the ranked walk, which is the acceptance figure: < 0.5 s for 100,000), the
problem build and explanation times, orders and priority weight filled; for
1,000 and 10,000 orders the optimal mode's time, weight, status and gap and
what greedy leaves on the table.

    .venv/bin/python bench/allocation.py [--seed 7] [--optimal-seconds 30]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.domain.allocation import Demand, StockKey, compare, greedy, optimal

WAREHOUSES = ("WH-EAST", "WH-CENTRAL", "WH-WEST", "WH-SOUTH")
SKUS = [f"SKU-{i:04d}" for i in range(500)]


def synthetic(n: int, seed: int) -> tuple[list[Demand], dict[StockKey, int]]:
    """`n` orders best-ranked first (priority classes 1-5, 10% gated behind
    their peers), SKU popularity skewed like a real catalogue, and stock for
    about half of each (warehouse, SKU)'s demand."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(SKUS))]
    raw = []
    for i in range(n):
        k = rng.randint(3, 15)
        skus: set[str] = set()
        while len(skus) < k:
            skus.update(rng.choices(SKUS, weights=weights, k=k - len(skus)))
        priority = rng.choices((1, 2, 3, 4, 5), weights=(10, 20, 30, 25, 15))[0]
        gated = rng.random() < 0.1
        raw.append((priority, gated, i, rng.choice(WAREHOUSES), {s: rng.randint(1, 10) for s in sorted(skus)}))
    raw.sort(key=lambda r: (r[0], r[1], r[2]))
    classes = sorted({(p, g) for p, g, *_ in raw})
    index = {c: i for i, c in enumerate(classes)}
    demands = [Demand(f"ORD-{i:06d}", wh, lines, index[(p, g)]) for p, g, i, wh, lines in raw]
    need: dict[StockKey, int] = {}
    for d in demands:
        for sku, qty in d.lines.items():
            need[(d.warehouse_id, sku)] = need.get((d.warehouse_id, sku), 0) + qty
    return demands, {key: qty // 2 for key, qty in need.items()}


def filled(solution_weight: tuple[int, ...], classes: tuple[int, ...]) -> str:
    return " ".join(f"{w}/{c}" for w, c in zip(solution_weight, classes, strict=True))


def bench_greedy(n: int, seed: int) -> None:
    demands, stock = synthetic(n, seed)
    started = time.perf_counter()
    solution = greedy(demands, stock)
    total = time.perf_counter() - started
    allocated = len(solution.allocated)
    lines = sum(len(d.lines) for d in demands)
    print(f"greedy  {n:>7,} orders ({lines:,} lines): solve {solution.solve_seconds:.3f} s "
          f"(build + solve + explain {total:.3f} s); allocated {allocated:,} ({allocated / n:.0%}); "
          f"weight per class {filled(solution.weight, solution.classes)}")


def bench_optimal(n: int, seed: int, seconds: float) -> None:
    demands, stock = synthetic(n, seed)
    base = greedy(demands, stock)
    started = time.perf_counter()
    solution = optimal(demands, stock, time_limit=seconds)
    total = time.perf_counter() - started
    table = compare(base, solution)
    gap = "unknown" if solution.gap is None else f"{solution.gap:.4%}"
    print(f"optimal {n:>7,} orders: {total:.2f} s, status {solution.status}, gap {gap}; "
          f"allocated {len(solution.allocated):,} vs greedy {len(base.allocated):,}; "
          f"weight per class {filled(solution.weight, solution.classes)}")
    print(f"        greedy leaves on the table: {len(table['gained'])} orders the optimal set fills instead of "
          f"{len(table['displaced'])}; greedy weight {filled(base.weight, base.classes)}")
    for level in solution.levels:
        print(f"        class {level['class']}: {level['filled']}/{level['orders']} {level['status']} "
              f"(gap {level['gap']:.4%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--optimal-seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(f"synthetic allocation: 500 SKUs x {len(WAREHOUSES)} warehouses, 3-15 lines per order, "
          f"stock for about half the demand (seed {args.seed})")
    for n in (10_000, 100_000):
        bench_greedy(n, args.seed)
    for n in (1_000, 10_000):
        bench_optimal(n, args.seed, args.optimal_seconds)


if __name__ == "__main__":
    main()
