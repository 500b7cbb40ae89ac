"""The allocation timer function and `oms allocate` call the one handler."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from typer.testing import CliRunner

from common.cli import app as cli
from common.domain.models import OrderStatus
from common.service.bootstrap import Deps, build
from functions.allocation_timer import allocation_run
from tests.helpers.allocation import approved
from tests.helpers.entry_points import process_deps


@pytest.fixture
def injected(world: Deps) -> Iterator[Deps]:
    with process_deps(world):
        yield world


def test_timer_runs_an_allocation_job(injected: Deps) -> None:
    order = approved(injected, "P1", {"A": 2})
    allocation_run(TimerRequest(past_due=False))
    stored = injected.store.get_order(order.order_id)
    assert stored is not None and stored.status == OrderStatus.RELEASED
    (job,) = injected.store.list_jobs()
    assert (job.job, job.source, job.counts["allocated"]) == ("allocation", "timer:greedy", 1)


def test_timer_schedule_comes_from_the_setting() -> None:
    bp = __import__("functions.allocation_timer", fromlist=["bp"]).bp
    app = func.FunctionApp()
    app.register_functions(bp)
    (function,) = app.get_functions()
    (trigger,) = json.loads(function.get_function_json())["bindings"]
    assert (trigger["type"], trigger["schedule"]) == ("timerTrigger", "%OMS_ALLOCATION_SCHEDULE%")


def test_cli_dry_run_prints_the_counts_and_changes_nothing(injected: Deps) -> None:
    order = approved(injected, "P1", {"A": 2})
    result = CliRunner().invoke(cli, ["allocate", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and "allocated" in result.output
    stored = injected.store.get_order(order.order_id)
    assert stored is not None and stored.status == OrderStatus.APPROVED


def test_cli_optimal_run_allocates(injected: Deps) -> None:
    order = approved(injected, "P1", {"A": 2})
    result = CliRunner().invoke(cli, ["allocate", "--mode", "optimal"])
    assert result.exit_code == 0, result.output
    assert "optimal" in result.output
    stored = injected.store.get_order(order.order_id)
    assert stored is not None and stored.status == OrderStatus.RELEASED


def test_cli_refuses_an_unknown_mode(injected: Deps) -> None:
    result = CliRunner().invoke(cli, ["allocate", "--mode", "fastest"])
    assert result.exit_code == 2


def test_build_wires_the_sqlite_inventory_on_the_store_file(world: Deps) -> None:
    built = build(world.settings, store=world.store)
    assert built.inventory is not None
    assert {(r.warehouse_id, r.sku) for r in built.inventory.stock()} == {
        (r.warehouse_id, r.sku) for r in world.inventory.stock()}  # type: ignore[union-attr]
