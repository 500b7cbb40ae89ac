"""Property: whatever the sequence of allocation runs and warehouse events
(early ones, impossible ones, redelivered ones), stock is conserved:

    initial on-hand + returns + adjustments - released = final on-hand,

reserved equals the sum of the open reservations, only Allocated and Released
orders hold one, and nothing is ever negative."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.domain.errors import DomainError
from common.domain.models import DELIVERED_STATUSES, OrderStatus
from common.service.bootstrap import Deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import run_allocation
from common.service.handlers.warehouse import apply_held_events
from tests.conftest import load_samples
from tests.helpers.sqlite import sqlite_deps, sqlite_settings
from tests.helpers.warehouse import WH, adjusted, approve, completed, design, rejected, returned, warehouse

SKUS = ["ANT-4T4R-B41", "RRU-B41-160W", "CBL-HYB-30M"]
STREAMS = [  # (project, site, design)
    ("PRJ-0000101", "NYC-00417", {"ANT-4T4R-B41": 3, "RRU-B41-160W": 2}),
    ("PRJ-0000102", "BOS-00112", {"ANT-4T4R-B41": 2, "CBL-HYB-30M": 4}),
]
REASONS = ["damaged", "customer_cancellation", "design_change", "incorrect_allocation"]

order_ref = st.integers(0, len(STREAMS) - 1)
step = st.one_of(
    st.tuples(st.just("allocate")),
    st.tuples(st.just("complete"), order_ref),
    st.tuples(st.just("reject"), order_ref),
    st.tuples(st.just("return"), order_ref, st.sampled_from(SKUS), st.integers(1, 3), st.sampled_from(REASONS)),
    st.tuples(st.just("adjust"), st.sampled_from(SKUS), st.sampled_from([-4, -3, -2, -1, 1, 2, 3, 4])),
    st.tuples(st.just("approve"), order_ref),
    st.tuples(st.just("redeliver"), st.integers(0, 50)),
    st.tuples(st.just("catch_up")),
    st.tuples(st.just("close_and_return"), order_ref, st.sampled_from(SKUS), st.integers(1, 3),
              st.sampled_from(REASONS)),
)


def _deps(tmp: Path) -> Deps:
    return sqlite_deps(sqlite_settings(tmp), clock=FixedClock(), notifier=MemoryNotifier())


def _order_id(index: int) -> str:
    project, site, _ = STREAMS[index]
    return f"{project}~{site}~NewBuild~1"


def _check(deps: Deps, initial: dict[str, int], adjustments: dict[str, int]) -> None:
    assert deps.inventory is not None
    orders: list[Any] = []
    for project, site, _ in STREAMS:
        stream = deps.store.get_streams([f"{project}~{site}~NewBuild"])[f"{project}~{site}~NewBuild"]
        orders.extend(deps.store.get_orders(stream.order_ids).values())
    released: dict[str, int] = {}
    returns: dict[str, int] = {}
    for order in orders:
        if order.status in DELIVERED_STATUSES:
            for sku, qty in order.quantities().items():
                released[sku] = released.get(sku, 0) + qty
        for sku, qty in order.returned.items():
            returns[sku] = returns.get(sku, 0) + qty
    rows = {r.sku: r for r in deps.inventory.stock(WH)}
    reservations = deps.inventory.reservations()
    for sku in SKUS:
        row = rows[sku]
        expected = initial[sku] + returns.get(sku, 0) + adjustments.get(sku, 0) - released.get(sku, 0)
        assert row.on_hand == expected, (sku, row, initial, returns, adjustments, released)
        assert row.reserved == sum(r.lines.get(sku, 0) for r in reservations), (sku, row, reservations)
        assert row.on_hand >= 0 and row.reserved >= 0 and row.available >= 0, row
    holding = {r.order_id for r in reservations}
    by_id = {o.order_id: o for o in orders}
    for order_id in holding:
        assert by_id[order_id].status in (OrderStatus.ALLOCATED, OrderStatus.RELEASED), by_id[order_id]
    for order in orders:
        if order.status in (OrderStatus.ALLOCATED, OrderStatus.RELEASED):
            assert order.order_id in holding, order
        for sku, qty in order.returned.items():
            assert 0 < qty <= order.quantities().get(sku, 0)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=st.fixed_dictionaries({sku: st.integers(0, 10) for sku in SKUS}),
       steps=st.lists(step, min_size=1, max_size=20))
def test_stock_is_conserved_through_any_sequence_of_allocations_and_warehouse_events(
        initial: dict[str, int], steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        deps = _deps(Path(tmp))
        try:
            load_samples(deps)
            assert deps.inventory is not None
            deps.inventory.set_on_hand([(WH, sku, qty) for sku, qty in initial.items()], deps.clock.now())
            for n, (project, site, items) in enumerate(STREAMS):
                design(deps, event_id=f"evt-{n}", project=project, site=site, items=items)
                approve(deps, _order_id(n))
            run_allocation(deps, RunAllocation())  # most examples start with something released
            sent: list[dict[str, Any]] = []
            adjustments: dict[str, int] = {}
            outcomes: dict[str, str] = {}
            for number, (kind, *args) in enumerate(steps):
                event: dict[str, Any] | None = None
                eid = f"wh-{number}"
                if kind == "allocate":
                    run_allocation(deps, RunAllocation())
                elif kind == "complete":
                    event = completed(eid, order_id=_order_id(args[0]))
                elif kind == "reject":
                    event = rejected(eid, order_id=_order_id(args[0]))
                elif kind == "return":
                    event = returned(eid, {args[1]: args[2]}, reason=args[3], order_id=_order_id(args[0]))
                elif kind == "close_and_return":
                    first = completed(f"{eid}c", order_id=_order_id(args[0]))
                    (done,) = warehouse(deps, first).results
                    outcomes[first["event_id"]] = done.outcome.value
                    sent.append(first)
                    event = returned(eid, {args[1]: args[2]}, reason=args[3], order_id=_order_id(args[0]))
                elif kind == "adjust":
                    event = adjusted(eid, args[0], args[1])
                elif kind == "approve":
                    with contextlib.suppress(DomainError):
                        approve(deps, _order_id(args[0]))
                elif kind == "catch_up":
                    apply_held_events(deps, [_order_id(i) for i in range(len(STREAMS))])
                elif sent:
                    event = sent[args[0] % len(sent)]
                if event is not None:
                    (result,) = warehouse(deps, event).results
                    outcome = result.outcome.value
                    hypothesis.event(f"{event['event_type']} {'again ' if kind == 'redeliver' else ''}{outcome}")
                    if outcomes.get(event["event_id"], "quarantined") != "quarantined":
                        # Processed once (applied, held or skipped): a redelivery changes nothing.
                        assert outcome == "skipped_duplicate", result
                    elif event["event_type"] == "StockAdjusted" and outcome == "applied":
                        adjustments[event["sku"]] = adjustments.get(event["sku"], 0) + event["delta"]
                    if outcomes.get(event["event_id"], "quarantined") == "quarantined":
                        outcomes[event["event_id"]] = outcome
                    if kind != "redeliver":
                        sent.append(event)
                _check(deps, initial, adjustments)
        finally:
            assert deps.inventory is not None
            deps.inventory.close()  # type: ignore[attr-defined]
            deps.store.close()
