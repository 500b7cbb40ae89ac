"""One allocation run at a time. Overlapping runs used to bend the ranking
(a second run marked short orders that fit while lower-ranked ones got the
stock), leave orders Allocated and unreleased, write `release` before
`allocate` in the audit (every entry stamped with the run's start time) and
spend the short-run budget on back-to-back runs. Now a run holds the
`allocation` lease: a second one waits for it or is refused, naming the
running run, and twenty staggered overlapping pairs end exactly as one run."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from common.adapters.notify import MemoryNotifier
from common.api.app import create_app
from common.api.deps import provide_deps
from common.domain.errors import RunInProgress
from common.domain.models import CatalogItem, OrderStatus
from common.service.bootstrap import Deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import run_allocation, run_scheduled_allocation
from common.service.leases import LeaseLost
from tests.helpers.allocation import SKUS, T0, all_orders, approved, assert_consistent, inventory, project
from tests.helpers.entry_points import process_deps
from tests.helpers.sqlite import sqlite_deps, sqlite_settings


@dataclass
class TickingClock:
    """Real time, so a lease expires as it would; strictly increasing, so
    two writes never share a stamp."""

    last: datetime = field(default_factory=lambda: datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        with self.lock:
            self.last = max(datetime.now(UTC), self.last + timedelta(microseconds=1))
            return self.last


def _deps(folder: Path, clock: Any) -> Deps:
    return sqlite_deps(sqlite_settings(folder, OMS_ALLOCATION_MAX_SHORT_RUNS="3"), clock=clock,
                       notifier=MemoryNotifier())


def _populate(deps: Deps) -> None:
    """40 Approved orders over three priorities wanting more than the stock."""
    deps.store.put_catalog([CatalogItem(sku=s) for s in SKUS])
    deps.store.put_projects([project(f"P{n}", priority=1 + n % 3) for n in range(1, 9)])
    inventory(deps).set_on_hand([("WH-1", s, 24) for s in SKUS], T0)
    for n in range(40):
        approved(deps, f"P{1 + n % 8}", {SKUS[n % 4]: 1 + n % 3, SKUS[(n + 1) % 4]: 2}, seq=1 + n // 8)


def _outcome(deps: Deps) -> dict[str, Any]:
    held = {r.order_id: r.lines for r in inventory(deps).reservations()}
    return {"orders": {o.order_id: (o.status, o.short_runs, o.short_seen, held.get(o.order_id))
                       for o in all_orders(deps).values()},
            "stock": {(r.warehouse_id, r.sku): (r.on_hand, r.reserved) for r in inventory(deps).stock()}}


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    deps = _deps(tmp_path_factory.mktemp("one-run"), TickingClock())
    _populate(deps)
    run_allocation(deps, RunAllocation())
    outcome = _outcome(deps)
    states = {status for status, *_ in outcome["orders"].values()}
    assert states == {OrderStatus.RELEASED, OrderStatus.APPROVED}  # some fit, some are short
    return outcome


@pytest.mark.parametrize("pair", range(20))
def test_two_staggered_overlapping_runs_end_exactly_as_one_run(tmp_path: Path, one_run: dict[str, Any],
                                                               pair: int) -> None:
    clock = TickingClock()
    first, second = _deps(tmp_path, clock), _deps(tmp_path, clock)  # two connections
    _populate(first)
    refused: list[RunInProgress] = []

    def run(deps: Deps, wait: float) -> None:
        try:
            run_allocation(deps, RunAllocation(wait_seconds=wait))
        except RunInProgress as busy:
            refused.append(busy)

    # Even pairs: the second run is refused while the first runs; odd pairs: it waits and runs after.
    threads = [threading.Thread(target=run, args=(first, 0)),
               threading.Thread(target=run, args=(second, 0 if pair % 2 == 0 else 60))]
    threads[0].start()
    time.sleep(pair * 0.004)  # staggered: from the same instant to well into the first run
    threads[1].start()
    for thread in threads:
        thread.join()

    assert _outcome(first) == one_run
    assert_consistent(first)
    assert len(refused) <= 1 and all(busy.holder.startswith("allocation-") for busy in refused)
    for order in all_orders(first).values():
        entries = first.store.order_audit(order.order_id)
        stamps = [e.at for e in entries]
        assert stamps == sorted(stamps), f"{order.order_id}: audit out of time order"
        actions = [e.action for e in entries]
        if "release" in actions:
            assert actions.index("allocate") < actions.index("release")


# ------------------------------------------------------------ the lease itself
@pytest.fixture
def lease_world(world: Deps) -> Deps:
    for n in range(3):
        approved(world, "P1", {"A": 1}, seq=n + 1)
    return world


def _hold(deps: Deps, holder: str = "allocation-elsewhere", minutes: float = 5) -> None:
    now = deps.clock.now()
    assert deps.store.acquire_lease("allocation", holder, now + timedelta(minutes=minutes), now) is None


def test_a_run_is_refused_while_another_holds_the_lease_and_changes_nothing(lease_world: Deps) -> None:
    _hold(lease_world)
    before = _outcome(lease_world)

    with pytest.raises(RunInProgress) as refused:
        run_allocation(lease_world, RunAllocation())

    assert refused.value.holder == "allocation-elsewhere"
    assert _outcome(lease_world) == before
    assert [j for j in lease_world.store.list_jobs() if j.job == "allocation"] == []


def test_a_run_waits_for_the_lease_and_runs_once_it_is_given_up(lease_world: Deps) -> None:
    _hold(lease_world)
    threading.Timer(0.3, lambda: lease_world.store.release_lease("allocation", "allocation-elsewhere")).start()

    report = run_allocation(lease_world, RunAllocation(wait_seconds=30))

    assert report.status == "succeeded" and report.counts["allocated"] == 3


def test_a_lease_left_by_a_run_that_died_is_taken_over_after_it_expires(lease_world: Deps) -> None:
    _hold(lease_world, "allocation-dead", minutes=5)
    with pytest.raises(RunInProgress):
        run_allocation(lease_world, RunAllocation())
    lease_world.clock.advance(timedelta(minutes=6))  # type: ignore[attr-defined]

    assert run_allocation(lease_world, RunAllocation()).counts["allocated"] == 3


def test_a_run_is_released_of_its_lease_when_it_ends_even_by_failure(lease_world: Deps,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from common.service.handlers import allocation

    def boom(self: Any) -> None:
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(allocation._Run, "plan", boom)
    with pytest.raises(RuntimeError):
        run_allocation(lease_world, RunAllocation())
    monkeypatch.undo()

    assert run_allocation(lease_world, RunAllocation()).counts["allocated"] == 3


def test_a_run_whose_lease_was_taken_over_stops_before_its_next_write(lease_world: Deps,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = lease_world.store.acquire_lease
    calls: list[str] = []

    def acquire(name: str, holder: str, until: datetime, now: datetime) -> str | None:
        calls.append(holder)
        return real(name, holder, until, now) if len(calls) == 1 else "allocation-usurper"

    monkeypatch.setattr(lease_world.store, "acquire_lease", acquire)

    with pytest.raises(LeaseLost, match="allocation-usurper"):
        run_allocation(lease_world, RunAllocation())

    assert {o.status for o in all_orders(lease_world).values()} == {OrderStatus.APPROVED}
    [job] = [j for j in lease_world.store.list_jobs() if j.job == "allocation"]
    assert job.status == "failed"


def test_a_dry_run_takes_no_lease(lease_world: Deps) -> None:
    _hold(lease_world)
    report = run_allocation(lease_world, RunAllocation(dry_run=True))
    assert report.counts["allocated"] == 3
    assert {o.status for o in all_orders(lease_world).values()} == {OrderStatus.APPROVED}


def test_a_scheduled_run_is_skipped_not_failed_while_another_run_holds_the_lease(
        lease_world: Deps, caplog: pytest.LogCaptureFixture) -> None:
    _hold(lease_world)
    assert run_scheduled_allocation(lease_world, RunAllocation(trigger="timer")) is None
    assert "scheduled allocation run skipped: another allocation run is in progress: allocation-elsewhere" \
        in caplog.text


def test_writes_are_stamped_with_their_own_time(world: Deps) -> None:
    deps = replace(world, clock=TickingClock())
    order = approved(deps, "P1", {"A": 1})

    run_allocation(deps, RunAllocation())

    entries = {e.action: e.at for e in deps.store.order_audit(order.order_id)}
    assert entries["allocate"] < entries["release"]


# --------------------------------------------------------------- entry points
@pytest.fixture
def client(lease_world: Deps) -> Iterator[TestClient]:
    keys = {"key-op": {"user": "olga", "roles": ["operator"]}}
    deps = replace(lease_world, settings=lease_world.settings.model_copy(update={"api_keys": keys}))
    app = create_app()
    app.dependency_overrides[provide_deps] = lambda: deps
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_http_answers_409_with_the_running_run_id(client: TestClient, lease_world: Deps) -> None:
    _hold(lease_world)
    response = client.post("/api/allocation/runs", json={"dry_run": False}, headers={"X-API-Key": "key-op"})
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["running_run_id"] == "allocation-elsewhere" and body["type"].endswith("run-in-progress")
    assert response.headers["retry-after"] == "60"


def test_the_cli_exits_1_naming_the_running_run(lease_world: Deps, capsys: pytest.CaptureFixture[str]) -> None:
    from common.cli import main

    _hold(lease_world)
    with process_deps(lease_world), pytest.raises(SystemExit) as exited:
        main(["allocate", "--wait", "0.2"])
    assert exited.value.code == 1
    assert "another allocation run is in progress: allocation-elsewhere" in capsys.readouterr().err
