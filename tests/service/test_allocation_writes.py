"""How an allocation run writes: the stock of every order it allocates is
reserved in rank order first, then the orders are written in order id order
(common/service/handlers/allocation.py, `_Run.apply`). What is decided is
what rank order decided: should the stock shrink meanwhile, the orders
ranked first keep theirs; a write lost to a concurrent writer gives its
reservations back, and its unchanged orders are reserved and written again."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

import common.service.handlers.allocation as allocation
from common.domain.models import OrderStatus, Reservation
from common.ports import CommitResult, PartitionChanges, Store
from common.service.bootstrap import Deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import (
    AllocationRunReport,
    OrderOutcome,
    ShortLine,
    collector_paused,
    run_allocation,
)
from common.service.unit_of_work import UnitOfWork, reserve_ahead
from tests.helpers.allocation import T0, StockTakenAtFirstBatch, approved, assert_consistent, inventory, project


@pytest.mark.parametrize("chunk", [1, 1000])
def test_stock_that_went_during_the_run_stays_with_the_order_ranked_first(
        world: Deps, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """The lower-ranked order's id sorts first, so it is written first; the
    higher-ranked one still keeps the stock."""
    monkeypatch.setattr(allocation, "CHUNK", chunk)
    world.store.put_projects([project("A9", priority=5)])
    high = approved(world, "P1", {"A": 6})
    low = approved(world, "A9", {"A": 4})
    assert low.order_id < high.order_id
    real = inventory(world)
    world.inventory = StockTakenAtFirstBatch(real, "A", -4)  # type: ignore[assignment]

    report = run_allocation(world, RunAllocation())

    world.inventory = real
    by_id = {o.order_id: o for o in report.orders}
    assert by_id[high.order_id].outcome == "allocated"
    assert by_id[low.order_id].outcome == "short"
    assert (by_id[low.order_id].detail or "").startswith("stock changed during the run")
    assert world.store.get_order(low.order_id).status == OrderStatus.APPROVED  # type: ignore[union-attr]
    assert world.store.order_audit(low.order_id) == []
    assert real.get_reservation(low.order_id) is None
    assert report.released == [high.order_id]
    assert_consistent(world)


class NeighbourChangesAtFirstCommit:
    """The store, with another writer changing one order of the run's first
    written partition just before the run's write of it."""

    def __init__(self, inner: Store, deps: Deps, order_id: str) -> None:
        self.inner, self.deps, self.order_id, self.done = inner, deps, order_id, False

    def commit(self, changes: Any) -> CommitResult:
        parts: list[PartitionChanges] = list(changes)
        if not self.done and any(self.order_id in p.orders for p in parts):
            self.done = True
            uow = UnitOfWork(self.inner, self.deps.inventory)
            order = uow.order(self.order_id)
            assert order is not None
            uow.put_order(order.model_copy(update={"version": order.version + 1, "need_by": T0.date()}))
            assert uow.commit().ok
        return self.inner.commit(parts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("chunk", [1000, 2])
def test_a_write_lost_to_a_concurrent_writer_gives_its_reservations_back_and_tries_again(
        world: Deps, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Both orders of P1 were reserved ahead; their partition's write is
    lost: the unchanged order is reserved and written again, the changed one
    is skipped, and neither keeps a reservation it does not write (with
    chunks of 2, in a chunk after the first)."""
    monkeypatch.setattr(allocation, "CHUNK", chunk)
    others = [approved(world, "P2", {"C": 1}, seq=n) for n in (1, 2)] + [approved(world, "P3", {"C": 1}, seq=n)
                                                                          for n in (1, 2)]
    kept = approved(world, "P1", {"A": 3}, seq=1)
    changed = approved(world, "P1", {"B": 2}, seq=2)
    real = world.store
    world.store = NeighbourChangesAtFirstCommit(real, world, changed.order_id)  # type: ignore[assignment]

    report = run_allocation(world, RunAllocation())

    world.store = real
    by_id = {o.order_id: o for o in report.orders}
    assert by_id[kept.order_id].outcome == "allocated"
    assert (by_id[changed.order_id].outcome, by_id[changed.order_id].reason) == ("skipped", "changed_during_run")
    assert real.get_order(kept.order_id).status == OrderStatus.RELEASED  # type: ignore[union-attr]
    assert real.get_order(changed.order_id).status == OrderStatus.APPROVED  # type: ignore[union-attr]
    assert inventory(world).get_reservation(changed.order_id) is None
    assert report.released == sorted([kept.order_id, *(o.order_id for o in others)])
    assert_consistent(world)


def test_reserve_ahead_reserves_in_the_order_given_and_names_the_refused(world: Deps) -> None:
    inv = inventory(world)
    first = Reservation(order_id="P1~x~NewBuild~1", warehouse_id="WH-1", lines={"A": 7}, run_id="r", at=T0)
    second = Reservation(order_id="P1~x~NewBuild~2", warehouse_id="WH-1", lines={"A": 4}, run_id="r", at=T0)
    again = Reservation(order_id="P1~x~NewBuild~1", warehouse_id="WH-1", lines={"A": 7}, run_id="r", at=T0)
    held, refused = reserve_ahead(inv, [first, second, again])
    assert held == [first, again]  # the second does not fit; the first's again is the one it holds
    assert list(refused) == [second.order_id]
    assert refused[second.order_id].shortfall == [{"sku": "A", "needed": 4, "available": 3}]
    assert [r.order_id for r in inv.reservations()] == [first.order_id]


def test_the_collector_waits_while_runs_are_under_way_and_is_put_back(world: Deps) -> None:
    seen: list[bool] = []
    real = world.store

    class Watching:
        def commit(self, changes: Any) -> CommitResult:
            seen.append(gc.isenabled())
            return real.commit(changes)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    approved(world, "P1", {"A": 3})
    world.store = Watching()  # type: ignore[assignment]
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():  # an overlapping (dry) run
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first is still under way
    assert gc.isenabled()
    run_allocation(world, RunAllocation())
    assert seen and not any(seen)
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failed run")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()


def test_a_run_leaves_no_cyclic_garbage(world: Deps) -> None:
    for n in range(40):
        approved(world, f"P{1 + n % 3}", {"A": 1, "B": 1}, seq=n + 1)
    run_allocation(world, RunAllocation(dry_run=True))  # imports and caches made once
    gc.collect()
    gc.disable()
    try:
        run_allocation(world, RunAllocation())
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_large_report_is_stored_as_before(world: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-order lines go to the blob as JSON made from the models; the
    blob reads back as the `model_dump(mode="json")` + `json.dumps` of before,
    and the job keeps the same document."""
    monkeypatch.setattr(allocation, "INLINE_ORDERS", 2)
    report = AllocationRunReport(run_id="alloc-x", mode="greedy", dry_run=False, started_at=T0,
                                 counts={"allocated": 1}, solver={"gap": 0.5, "levels": [{"class": 0}]},
                                 orders=[OrderOutcome(order_id="P1~S~NewBuild~1", rank=1, outcome="allocated"),
                                         OrderOutcome(order_id="P2~Ś~NewBuild~1", rank=2, outcome="short",
                                                      reason="insufficient_stock", detail="short run 1 of 3 «é»",
                                                      shortfall=[ShortLine(sku="A", needed=5, available=2)],
                                                      blocked_by=["P1~S~NewBuild~1"]),
                                         OrderOutcome(order_id="P3~S~NewBuild~1", outcome="rejected",
                                                      reason="inactive_sku")])
    data = report.model_dump(mode="json")
    before = {**data, "orders": [], "orders_blob": "allocation-runs/alloc-x.json"}

    kept = allocation.store_report(world, report)

    assert kept == before and list(kept) == list(before)
    assert world.blobs is not None
    assert json.loads(world.blobs.read("allocation-runs", "alloc-x.json")) == json.loads(
        json.dumps(data["orders"], separators=(",", ":")))

