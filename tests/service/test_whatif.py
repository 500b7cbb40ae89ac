"""What-if allocation (issue 16, part 3): the real ranking and solver over the
current data plus overrides, compared with the plain plan, writing nothing."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from common.adapters.notify import MemoryNotifier
from common.domain.errors import InvalidInput
from common.domain.models import OrderStatus
from common.service.bootstrap import Deps
from common.service.commands import ApplyWarehouseEvents, RunAllocation
from common.service.handlers.allocation import run_allocation
from common.service.handlers.warehouse import apply_warehouse_events
from common.service.handlers.whatif import ProjectOverride, StockOverride, WhatIf, run_what_if, unblocked_by
from common.service.unit_of_work import UnitOfWork
from tests.helpers.allocation import approved


def dump(deps: Deps) -> list[str]:
    """Every row of the database file (orders, audit, outbox, markers, jobs,
    leases, stock, reservations, ...), as SQL."""
    with sqlite3.connect(deps.settings.sqlite_path) as db:
        return list(db.iterdump())


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def short_world(world: Deps) -> tuple[Deps, dict[str, str]]:
    """WH-1 holds 10 of A: P1 (priority 1) takes 8, P2 and P3 are short."""
    orders = {"P1": approved(world, "P1", {"A": 8}).order_id,
              "P2": approved(world, "P2", {"A": 6}).order_id,
              "P3": approved(world, "P3", {"A": 5, "B": 2}).order_id}
    return world, orders


def test_a_what_if_with_extra_stock_allocates_exactly_what_a_run_does_once_that_stock_arrives_and_writes_nothing(
        short_world: tuple[Deps, dict[str, str]]) -> None:
    world, orders = short_world
    assert isinstance(world.notifier, MemoryNotifier)
    before, told, data = dump(world), len(world.notifier.sent), files(Path(world.settings.data_dir))

    report = run_what_if(world, WhatIf(extra_stock=[StockOverride(warehouse_id="WH-1", sku="A", qty=9)]))

    assert dump(world) == before and len(world.notifier.sent) == told and files(Path(world.settings.data_dir)) == data
    assert report.written is False
    assert report.baseline.allocated == [orders["P1"]]
    assert report.plan.allocated == sorted(orders.values())
    assert report.difference.moved_in == sorted([orders["P2"], orders["P3"]]) and report.difference.moved_out == []
    assert [(w.national_priority, w.baseline, w.what_if, w.delta) for w in report.difference.weight] == [
        (1, 1, 1, 0), (2, 0, 1, 1), (3, 0, 1, 1)]
    assert {c.order_id: (c.baseline, c.what_if) for c in report.difference.changed} == {
        orders["P2"]: ("short", "allocated"), orders["P3"]: ("short", "allocated")}

    apply_warehouse_events(world, ApplyWarehouseEvents([{
        "event_id": "adj-9", "event_type": "StockAdjusted", "occurred_at": "2026-11-20T09:00:00Z",
        "warehouse_id": "WH-1", "sku": "A", "delta": 9, "reason": "delivery"}], channel="file"))
    real = run_allocation(world, RunAllocation())

    assert sorted(o.order_id for o in real.orders if o.outcome == "allocated") == report.plan.allocated


def test_the_baseline_is_what_a_dry_run_decides(short_world: tuple[Deps, dict[str, str]]) -> None:
    world, _ = short_world
    report = run_what_if(world, WhatIf())
    dry = run_allocation(world, RunAllocation(dry_run=True))

    assert report.baseline.allocated == report.plan.allocated == sorted(
        o.order_id for o in dry.orders if o.outcome == "allocated")
    assert report.difference.moved_in == report.difference.moved_out == []
    assert report.difference.changed == []
    assert [(o.order_id, o.outcome, o.rank) for o in report.plan.orders] == [
        (o.order_id, o.outcome, o.rank) for o in dry.orders]


def test_escalating_a_project_moves_its_order_ahead_and_out_goes_the_one_it_displaces(
        short_world: tuple[Deps, dict[str, str]]) -> None:
    world, orders = short_world

    report = run_what_if(world, WhatIf(projects=[ProjectOverride(project_id="P2", national_priority=1)],
                                       exclude_orders=[orders["P1"]]))

    assert report.plan.allocated == [orders["P2"]]
    assert report.difference.moved_in == [orders["P2"]] and report.difference.moved_out == [orders["P1"]]
    changed = {c.order_id: (c.baseline, c.what_if, c.reason) for c in report.difference.changed}
    assert changed[orders["P1"]] == ("allocated", None, "excluded")
    assert [(w.national_priority, w.gated, w.baseline, w.what_if) for w in report.difference.weight] == [
        (1, False, 1, 1), (2, False, 0, 0), (3, False, 0, 0)]


def test_a_gated_flag_and_a_plan_type_reorder_the_ranking(world: Deps) -> None:
    first = approved(world, "P1", {"A": 8}).order_id
    second = approved(world, "PG", {"A": 8}).order_id  # gated, same priority: after P1

    report = run_what_if(world, WhatIf(projects=[ProjectOverride(project_id="P1", gated=True, plan_type="Expedite"),
                                                 ProjectOverride(project_id="PG", gated=False)]))

    assert report.baseline.allocated == [first] and report.plan.allocated == [second]


def test_a_draft_order_forced_approved_is_planned_like_an_approved_one(world: Deps) -> None:
    draft = approved(world, "P2", {"B": 4})
    uow = UnitOfWork(world.store, world.inventory)
    uow.adopt_orders([draft])
    uow.put_order(draft.model_copy(update={"status": OrderStatus.DRAFT, "approved_at": None}))
    assert uow.commit().ok

    report = run_what_if(world, WhatIf(force_approved=[draft.order_id]))

    assert report.baseline.allocated == [] and report.plan.allocated == [draft.order_id]
    assert world.store.get_order(draft.order_id).status == OrderStatus.DRAFT  # type: ignore[union-attr]


def test_the_optimal_mode_runs_the_solver_it_names(short_world: tuple[Deps, dict[str, str]]) -> None:
    world, orders = short_world
    report = run_what_if(world, WhatIf(mode="optimal", extra_stock=[StockOverride(warehouse_id="WH-1", sku="A",
                                                                                  qty=1)]))
    assert report.plan.solver["mode"] == report.baseline.solver["mode"] == "optimal"
    assert orders["P1"] in report.plan.allocated


def test_overrides_naming_what_does_not_exist_are_refused_with_every_reason_and_change_nothing(
        short_world: tuple[Deps, dict[str, str]]) -> None:
    world, orders = short_world
    before = dump(world)
    closed = orders["P1"]
    run_allocation(world, RunAllocation())  # P1 is Released now: it cannot be forced Approved
    before = dump(world)

    with pytest.raises(InvalidInput) as refused:
        run_what_if(world, WhatIf(
            extra_stock=[StockOverride(warehouse_id="WH-1", sku="A", qty=1),
                         StockOverride(warehouse_id="WH-1", sku="A", qty=2)],
            projects=[ProjectOverride(project_id="NOPE", gated=True)],
            exclude_orders=["P9~S~NewBuild~1", orders["P2"]],
            force_approved=[closed, orders["P2"]]))

    assert sorted((tuple(r.loc), r.type) for r in refused.value.reasons) == sorted([
        (("body", "extra_stock", 1), "duplicate"),
        (("body", "force_approved", 1), "conflict"),
        (("body", "exclude_orders", 0), "unknown_order"),
        (("body", "force_approved", 0), "not_draft"),
        (("body", "projects", 0, "project_id"), "unknown_project")])
    assert dump(world) == before


def test_a_what_if_takes_no_lease_and_answers_while_a_run_holds_it(short_world: tuple[Deps, dict[str, str]]) -> None:
    world, orders = short_world
    now = world.clock.now()
    assert world.store.acquire_lease("allocation", "allocation-elsewhere", now + timedelta(minutes=5), now) is None
    before = dump(world)

    report = run_what_if(world, WhatIf())

    assert report.plan.allocated == [orders["P1"]] and dump(world) == before



def test_what_each_delivery_unblocks_is_what_a_whole_what_if_moves_in(
        short_world: tuple[Deps, dict[str, str]]) -> None:
    world, _ = short_world
    approved(world, "PW2", {"A": 7})  # WH-2 holds 5
    deliveries = [StockOverride(warehouse_id=w, sku=sku, qty=qty)
                  for w, sku, qty in (("WH-1", "A", 6), ("WH-2", "A", 2), ("WH-1", "B", 1), ("WH-9", "A", 50))]

    answers = unblocked_by(world, deliveries)

    assert answers == [run_what_if(world, WhatIf(extra_stock=[d])).difference.moved_in for d in deliveries]
    assert [len(a) for a in answers] == [1, 1, 0, 0]
