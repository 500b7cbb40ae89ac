"""Allocation runs end to end on the embedded store: rank, reserve, allocate,
release; short and invalid orders; crash repair; dry runs; the stored report."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from common.domain.errors import InvalidInput, RunInProgress
from common.domain.models import Order, OrderStatus, Reservation
from common.ports import InventoryStore
from common.service.bootstrap import Deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import get_allocation_run, run_allocation
from common.service.unit_of_work import UnitOfWork
from tests.helpers.allocation import (
    T0,
    StockTakenAtFirstBatch,
    all_orders,
    approved,
    assert_consistent,
    infeasible,
    inventory,
)


def outcomes(report: Any) -> dict[str, Any]:
    return {o.order_id: o for o in report.orders}


def levels(deps: Deps, warehouse: str = "WH-1") -> dict[str, tuple[int, int]]:
    return {r.sku: (r.on_hand, r.reserved) for r in inventory(deps).stock(warehouse)}


def test_allocated_order_is_reserved_and_released_to_the_warehouse(world: Deps) -> None:
    order = approved(world, "P1", {"A": 4, "B": 2})
    report = run_allocation(world, RunAllocation())
    assert outcomes(report)[order.order_id].outcome == "allocated"
    stored = world.store.get_order(order.order_id)
    assert stored is not None and stored.status == OrderStatus.RELEASED
    held = inventory(world).get_reservation(order.order_id)
    assert held is not None and held.lines == {"A": 4, "B": 2}
    assert levels(world)["A"] == (10, 4)
    assert [e.type for e in world.store.outbox_events(order.order_id)] == [
        "oms.order.allocated", "oms.order.release_requested"]
    assert [(a.from_status, a.to_status) for a in world.store.order_audit(order.order_id)][-2:] == [
        (OrderStatus.APPROVED, OrderStatus.ALLOCATED), (OrderStatus.ALLOCATED, OrderStatus.RELEASED)]
    assert report.counts["considered"] == 1 and report.counts["allocated"] == 1
    assert report.counts["released"] == 1
    assert report.released == [order.order_id]
    assert_consistent(world)


def test_higher_priority_order_takes_the_stock_and_the_other_records_its_shortfall(world: Deps) -> None:
    low = approved(world, "P2", {"A": 5, "B": 1}, approved_at=T0)  # approved first, but priority 2
    high = approved(world, "P1", {"A": 8}, approved_at=T0 + timedelta(days=1))
    report = run_allocation(world, RunAllocation())
    by_id = outcomes(report)
    assert by_id[high.order_id].outcome == "allocated" and by_id[high.order_id].rank == 1
    short = by_id[low.order_id]
    assert short.outcome == "short" and short.rank == 2
    assert [s.model_dump() for s in short.shortfall] == [{"sku": "A", "needed": 5, "available": 2}]
    assert short.blocked_by == [high.order_id]
    stored = world.store.get_order(low.order_id)
    assert stored is not None and stored.status == OrderStatus.APPROVED and stored.short_runs == 1
    assert inventory(world).get_reservation(low.order_id) is None
    assert report.counts["short"] == 1
    assert_consistent(world)


def test_sku_with_a_stock_row_of_zero_is_short_not_invalid(world: Deps) -> None:
    inventory(world).set_on_hand([("WH-1", "D", 0)], T0 + timedelta(days=1))
    order = approved(world, "P1", {"D": 1})
    report = run_allocation(world, RunAllocation())
    assert outcomes(report)[order.order_id].outcome == "short"
    assert world.store.get_order(order.order_id).status == OrderStatus.APPROVED  # type: ignore[union-attr]


def test_order_short_for_more_than_the_configured_runs_goes_back_to_draft(world: Deps) -> None:
    world.settings = world.settings.model_copy(update={"allocation_max_short_runs": 2})
    order = approved(world, "P1", {"A": 11})
    for expected_runs, on_hand in ((1, 10), (2, 9)):  # some stock moved between runs, never enough
        inventory(world).set_on_hand([("WH-1", "A", on_hand)], T0 + timedelta(hours=expected_runs))
        run_allocation(world, RunAllocation())
        stored = world.store.get_order(order.order_id)
        assert stored is not None and stored.status == OrderStatus.APPROVED and stored.short_runs == expected_runs
    inventory(world).set_on_hand([("WH-1", "A", 10)], T0 + timedelta(hours=3))
    report = run_allocation(world, RunAllocation())
    assert outcomes(report)[order.order_id].outcome == "rejected"
    assert outcomes(report)[order.order_id].reason == "insufficient_inventory"
    stored = world.store.get_order(order.order_id)
    assert stored is not None and stored.status == OrderStatus.DRAFT
    assert stored.rejection_reason == "insufficient_inventory" and stored.short_runs == 0
    assert world.store.outbox_events(order.order_id)[-1].type == "oms.order.rejected"


def test_back_to_back_runs_on_the_same_stock_count_one_short_run(world: Deps) -> None:
    world.settings = world.settings.model_copy(update={"allocation_max_short_runs": 2})
    order = approved(world, "P1", {"A": 11})
    for _ in range(5):
        report = run_allocation(world, RunAllocation())
        assert outcomes(report)[order.order_id].outcome == "short"
    stored = world.store.get_order(order.order_id)
    assert stored is not None and stored.status == OrderStatus.APPROVED
    assert (stored.short_runs, stored.short_seen) == (1, {"A": 10})
    assert [a.action for a in world.store.order_audit(order.order_id)].count("allocation_short") == 1
    assert "not counted again" in (outcomes(report)[order.order_id].detail or "")

    inventory(world).set_on_hand([("WH-1", "A", 7)], T0 + timedelta(days=1))  # the stock moved: counts
    run_allocation(world, RunAllocation())
    assert world.store.get_order(order.order_id).short_runs == 2  # type: ignore[union-attr]


def _no_stock_row(deps: Deps) -> str:
    return approved(deps, "PW2", {"A": 1, "B": 1}).order_id  # WH-2 has no row for B


def _inactive_sku(deps: Deps) -> str:
    return approved(deps, "P1", {"A": 1, "OLD": 1}).order_id


def _not_qualifying(deps: Deps) -> str:
    order_id = approved(deps, "P3", {"A": 1}).order_id
    project = deps.store.get_projects(["P3"])["P3"]
    deps.store.put_projects([project.model_copy(update={"project_status": "OnHold"})])
    return order_id


def _not_feasible(deps: Deps) -> str:
    order = approved(deps, "P1", {"A": 1})
    infeasible(deps, order)
    return order.order_id


def _gated_too_long(deps: Deps) -> str:
    deps.settings = deps.settings.model_copy(update={"allocation_gated_policy": "exclude",
                                                     "allocation_gated_exclude_hours": 24})
    return approved(deps, "PG", {"A": 1}, approved_at=deps.clock.now() - timedelta(hours=25)).order_id


@pytest.mark.parametrize(("make", "reason", "detail"), [
    (_no_stock_row, "no_stock_row", "no stock row in WH-2 for B"),
    (_inactive_sku, "inactive_sku", "OLD"),
    (_not_qualifying, "project_not_qualifying", "OnHold"),
    (_not_feasible, "not_feasible", "failed checks: power"),
    (_gated_too_long, "gated_excluded", "more than 24 h"),
])
def test_order_invalid_at_allocation_time_goes_back_to_draft_with_its_reason(
        world: Deps, make: Any, reason: str, detail: str) -> None:
    order_id = make(world)
    report = run_allocation(world, RunAllocation())
    outcome = outcomes(report)[order_id]
    assert (outcome.outcome, outcome.reason) == ("rejected", reason)
    assert detail in (outcome.detail or "")
    stored = world.store.get_order(order_id)
    assert stored is not None and stored.status == OrderStatus.DRAFT and stored.rejection_reason == reason
    assert reason in (world.store.order_audit(order_id)[-1].reason or "")
    assert inventory(world).get_reservation(order_id) is None
    assert report.counts["rejected"] == 1


def test_gated_order_under_the_exclude_policy_waits_within_the_limit(world: Deps) -> None:
    world.settings = world.settings.model_copy(update={"allocation_gated_policy": "exclude"})
    gated = approved(world, "PG", {"A": 1}, approved_at=world.clock.now() - timedelta(hours=1))
    report = run_allocation(world, RunAllocation())
    assert (outcomes(report)[gated.order_id].outcome, outcomes(report)[gated.order_id].reason) == (
        "skipped", "gated_excluded")
    assert world.store.get_order(gated.order_id).status == OrderStatus.APPROVED  # type: ignore[union-attr]


def test_gated_order_under_deprioritize_policy_comes_after_its_priority_peers(world: Deps) -> None:
    gated = approved(world, "PG", {"A": 6}, approved_at=T0)
    plain = approved(world, "P1", {"A": 6}, approved_at=T0 + timedelta(days=2))
    report = run_allocation(world, RunAllocation())
    assert outcomes(report)[plain.order_id].outcome == "allocated"
    assert outcomes(report)[gated.order_id].outcome == "short"


def snapshot(deps: Deps) -> dict[str, Any]:
    orders = all_orders(deps)
    return {
        "orders": {i: (o.status, o.etag, o.short_runs) for i, o in orders.items()},
        "audit": sum(len(deps.store.order_audit(i)) for i in orders),
        "outbox": len(deps.store.outbox_events()),
        "reservations": inventory(deps).reservations(),
        "stock": inventory(deps).stock(),
    }


def test_dry_run_changes_nothing_but_reports_every_outcome(world: Deps) -> None:
    ok = approved(world, "P1", {"A": 8})
    short = approved(world, "P2", {"A": 5})
    bad = approved(world, "P1", {"OLD": 1}, seq=2)
    before = snapshot(world)
    report = run_allocation(world, RunAllocation(dry_run=True))
    assert snapshot(world) == before
    by_id = outcomes(report)
    assert (by_id[ok.order_id].outcome, by_id[short.order_id].outcome, by_id[bad.order_id].outcome) == (
        "allocated", "short", "rejected")
    assert report.dry_run and report.released == [ok.order_id]
    again = get_allocation_run(world, report.run_id)
    assert again is not None and again.dry_run and len(again.orders) == 3


class CrashAfterReserving:
    """The inventory, with the process dying right after the `after`-th
    reservation was written (before its order is updated)."""

    def __init__(self, inner: InventoryStore, after: int) -> None:
        self.inner = inner
        self.after = after
        self.calls = 0

    def reserve(self, reservation: Reservation) -> bool:
        done = self.inner.reserve(reservation)
        self.calls += 1
        if self.calls >= self.after:
            raise RuntimeError("killed between the reservation write and the order update")
        return done

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_crash_between_reservation_and_order_update_is_repaired_by_the_next_run(world: Deps) -> None:
    orders = [approved(world, f"P{1 + i % 3}", {"A": 1, "B": 1}, seq=i + 1) for i in range(8)]
    real = inventory(world)
    world.inventory = CrashAfterReserving(real, after=3)  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        run_allocation(world, RunAllocation())
    world.inventory = real
    assert len(real.reservations()) == 3  # reserved, orders still Approved: what the crash left
    assert all(o.status == OrderStatus.APPROVED for o in all_orders(world).values())
    crashed = [j for j in world.store.list_jobs() if j.status == "failed"]
    assert len(crashed) == 1 and crashed[0].error is not None

    report = run_allocation(world, RunAllocation())
    assert len(report.reconciled["completed"]) == 3
    assert_consistent(world)
    statuses = {o.order_id: o.status for o in all_orders(world).values()}
    assert all(statuses[o.order_id] == OrderStatus.RELEASED for o in orders)
    assert levels(world) == {"A": (10, 8), "B": (10, 8), "C": (10, 0), "D": (10, 0), "OLD": (10, 0)}
    for order in orders:  # allocated once: one allocation event per order, whichever run wrote it
        types = [e.type for e in world.store.outbox_events(order.order_id)]
        assert types == ["oms.order.allocated", "oms.order.release_requested"]


@pytest.mark.parametrize("crash_after", [1, 5, 10])
def test_crash_repair_conserves_stock_exactly(world: Deps, crash_after: int) -> None:
    orders = [approved(world, f"P{1 + i % 3}", {"A": 1, "C": 1}, seq=i + 1) for i in range(12)]
    real = inventory(world)
    world.inventory = CrashAfterReserving(real, after=crash_after)  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        run_allocation(world, RunAllocation())
    world.inventory = real
    run_allocation(world, RunAllocation())
    assert_consistent(world)
    released = [o for o in all_orders(world).values() if o.status == OrderStatus.RELEASED]
    assert len(released) == 10  # 10 units of A and C: 10 orders, no unit twice, none lost
    assert levels(world)["A"] == (10, 10) and levels(world)["C"] == (10, 10)
    assert {o.order_id for o in released} <= {o.order_id for o in orders}


def left_by_a_crash(world: Deps, order: Order, status: OrderStatus) -> None:
    """What a run that died after reserving `order`'s lines leaves, the order
    then stored in `status`."""
    inventory(world).reserve(Reservation(order_id=order.order_id, warehouse_id="WH-1", lines=order.quantities(),
                                         run_id="crashed", at=T0))
    uow = UnitOfWork(world.store, world.inventory)
    uow.adopt_orders([order])
    uow.put_order(order.model_copy(update={"status": status}))
    assert uow.commit().ok


def test_allocated_order_left_by_a_crash_before_its_release_is_released_by_the_next_run(world: Deps) -> None:
    order = approved(world, "P1", {"A": 3})
    left_by_a_crash(world, order, OrderStatus.ALLOCATED)
    report = run_allocation(world, RunAllocation())
    assert report.released == [order.order_id] and report.counts["considered"] == 0
    assert world.store.get_order(order.order_id).status == OrderStatus.RELEASED  # type: ignore[union-attr]
    assert levels(world)["A"] == (10, 3)
    assert_consistent(world)


def test_reservation_of_an_order_that_no_longer_exists_goes_back_to_stock(world: Deps) -> None:
    inventory(world).reserve(Reservation(order_id="P1~S-P1~NewBuild~9", warehouse_id="WH-1", lines={"B": 4},
                                         run_id="crashed", at=T0))  # its order is gone
    report = run_allocation(world, RunAllocation())
    assert report.reconciled["released"] == ["P1~S-P1~NewBuild~9"]
    assert levels(world)["B"] == (10, 0)


def test_reservation_left_for_an_order_that_changed_meanwhile_goes_back_to_stock(world: Deps) -> None:
    order = approved(world, "P1", {"A": 3})
    inventory(world).reserve(Reservation(order_id=order.order_id, warehouse_id="WH-1", lines={"A": 2},
                                         run_id="crashed", at=T0))  # for an older content of the order
    report = run_allocation(world, RunAllocation())
    assert report.reconciled["released"] == [order.order_id]
    assert outcomes(report)[order.order_id].outcome == "allocated"
    assert levels(world)["A"] == (10, 3)
    assert_consistent(world)


def _overlapping_runs(world: Deps, runs: int = 3) -> list[BaseException]:
    for i in range(30):
        approved(world, f"P{1 + i % 3}", {"A": 1, "B": 1}, seq=i + 1)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_allocation(world, RunAllocation())
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_overlapping_runs_are_refused_while_one_holds_the_lease(world: Deps) -> None:
    errors = _overlapping_runs(world)
    assert all(isinstance(e, RunInProgress) for e in errors), errors
    run_allocation(world, RunAllocation())
    assert_consistent(world)
    released = [o for o in all_orders(world).values() if o.status == OrderStatus.RELEASED]
    assert len(released) == 10 and levels(world)["A"] == (10, 10)


def test_even_without_the_lease_overlapping_runs_never_reserve_a_unit_twice(
        world: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease keeps the ranking; the reservations and ETags keep the stock
    right even when it fails (a run that outlived its lease)."""
    monkeypatch.setattr(world.store, "acquire_lease", lambda *args, **kwargs: None)
    assert not _overlapping_runs(world)
    run_allocation(world, RunAllocation())  # whatever an overlap left undone, the next run finishes
    assert_consistent(world)
    released = [o for o in all_orders(world).values() if o.status == OrderStatus.RELEASED]
    assert len(released) == 10 and levels(world)["A"] == (10, 10)


def test_run_report_is_stored_with_the_job_run(world: Deps) -> None:
    order = approved(world, "P1", {"A": 1})
    report = run_allocation(world, RunAllocation(mode="greedy"))
    stored = get_allocation_run(world, report.run_id)
    assert stored is not None
    assert stored.status == "succeeded" and stored.ended_at is not None
    assert stored.counts["considered"] == 1 and stored.counts["allocated"] == 1
    assert [(o.order_id, o.outcome) for o in stored.orders] == [(order.order_id, "allocated")]
    job = world.store.get_job(report.run_id)
    assert job is not None and job.job == "allocation"
    assert get_allocation_run(world, "no-such-run") is None


def test_a_large_run_keeps_its_per_order_report_in_the_blob_store_and_reads_it_back(
        world: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    from common.service.handlers import allocation

    monkeypatch.setattr(allocation, "INLINE_ORDERS", 1)  # "large" = more than one order here
    orders = [approved(world, project_id, {"A": 1}) for project_id in ("P1", "P2", "P3")]

    report = run_allocation(world, RunAllocation())

    job = world.store.get_job(report.run_id)
    assert job is not None
    kept = job.details["report"]
    assert kept["orders"] == [] and kept["orders_blob"] == f"allocation-runs/{report.run_id}.json"
    assert world.blobs is not None and world.blobs.exists("allocation-runs", f"{report.run_id}.json")
    stored = get_allocation_run(world, report.run_id)
    assert stored is not None
    assert sorted((o.order_id, o.outcome) for o in stored.orders) == sorted(
        (o.order_id, "allocated") for o in orders)


def test_unknown_mode_is_refused_before_anything_runs(world: Deps) -> None:
    with pytest.raises(InvalidInput):
        run_allocation(world, RunAllocation(mode="fastest"))
    assert world.store.list_jobs() == []


def test_optimal_mode_reports_what_greedy_leaves_on_the_table(world: Deps) -> None:
    big = approved(world, "P1", {"A": 10}, seq=1, approved_at=T0)
    small = [approved(world, "P1", {"A": 5}, seq=i, approved_at=T0 + timedelta(hours=i)) for i in (2, 3)]
    report = run_allocation(world, RunAllocation(mode="optimal", dry_run=True))
    assert report.comparison is not None and report.comparison["better"] is True
    assert report.comparison["gained"] == sorted(o.order_id for o in small)
    assert report.comparison["displaced"] == [big.order_id]
    assert report.solver["status"] == "optimal" and report.solver["gap"] == 0.0
    assert outcomes(report)[big.order_id].outcome == "short"


def test_reservation_of_an_order_sent_back_to_draft_goes_back_to_stock(world: Deps) -> None:
    order = approved(world, "P1", {"A": 2})
    left_by_a_crash(world, order, OrderStatus.DRAFT)  # a planner edited it meanwhile
    report = run_allocation(world, RunAllocation())
    assert report.reconciled["released"] == [order.order_id]
    assert levels(world)["A"] == (10, 0)
    assert_consistent(world)


def test_dry_run_after_a_crash_reports_the_interrupted_allocations_as_completed(world: Deps) -> None:
    orders = [approved(world, "P1", {"A": 3}, seq=i + 1) for i in range(3)]  # 9 of 10 units
    real = inventory(world)
    world.inventory = CrashAfterReserving(real, after=2)  # type: ignore[assignment]
    with pytest.raises(RuntimeError):
        run_allocation(world, RunAllocation())
    world.inventory = real
    before = snapshot(world)
    report = run_allocation(world, RunAllocation(dry_run=True))
    assert snapshot(world) == before
    by_id = outcomes(report)
    assert [by_id[o.order_id].outcome for o in orders] == ["allocated", "allocated", "allocated"]
    assert [by_id[o.order_id].reason for o in orders[:2]] == ["completes_interrupted_run"] * 2


def test_an_order_whose_stock_went_during_the_run_is_neither_allocated_nor_released(world: Deps) -> None:
    """Allocation and release are one write: when the reservation is refused,
    both are dropped, and the order stays Approved with nothing on its trail."""
    first = approved(world, "P1", {"A": 4}, seq=1)
    second = approved(world, "P2", {"A": 4, "B": 1}, seq=2)
    real = inventory(world)
    world.inventory = StockTakenAtFirstBatch(real, "A", -4)  # type: ignore[assignment]

    report = run_allocation(world, RunAllocation())

    world.inventory = real
    assert outcomes(report)[first.order_id].outcome == "allocated"
    lost = outcomes(report)[second.order_id]
    assert lost.outcome == "short" and (lost.detail or "").startswith("stock changed during the run")
    assert world.store.get_order(second.order_id).status == OrderStatus.APPROVED  # type: ignore[union-attr]
    assert world.store.order_audit(second.order_id) == []
    assert world.store.outbox_events(second.order_id) == []
    assert real.get_reservation(second.order_id) is None
    assert report.released == [first.order_id]
    assert_consistent(world)
