"""Replenishment by reorder thresholds, end to end through the real handlers
(issue 16's acceptance scenarios): warehouse events, allocation runs, the
sweep timer and the reorder-policy dataset open, raise and fulfil one
request per (warehouse, SKU), each change audited, emitted and told."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier, SmtpNotifier
from common.domain.replenishment import (
    ClassDefault,
    ReorderPolicy,
    ReplenishmentRequest,
    RequestChange,
    partition_of,
)
from common.ports import ConflictKind
from common.service.bootstrap import Deps
from common.service.commands import EvaluateReplenishment, RunAllocation
from common.service.handlers.allocation import run_allocation
from common.service.handlers.datasets import ingest_dataset_file
from common.service.handlers.replenishment import ATTEMPTS, evaluate_replenishment, sweep_replenishment
from common.service.handlers.sweeps import run_sweeps
from tests.helpers.warehouse import (
    ORDER,
    WH,
    adjusted,
    approve,
    completed,
    design,
    returned,
    stock_up,
    warehouse,
)
from tests.service.conftest import SmtpServer

ANT, RRU, CBL = "ANT-4T4R-B41", "RRU-B41-160W", "CBL-HYB-30M"
DAY = 86_400


def policy(sku: str = ANT, point: int = 10, target: int = 30, lead: int = 5, wh: str = WH) -> ReorderPolicy:
    return ReorderPolicy(warehouse_id=wh, sku=sku, reorder_point=point, target_level=target, lead_time_days=lead)


@pytest.fixture
def stocked(seeded: Deps) -> Deps:
    stock_up(seeded, {ANT: 20, RRU: 20, CBL: 20})
    seeded.store.put_reorder_policies([policy()])
    return seeded


def requests(deps: Deps, status: str | None = None) -> list[ReplenishmentRequest]:
    return deps.store.replenishment_requests(status=status)


def events(deps: Deps, request_id: str) -> list[tuple[str, int]]:
    return [(e.type, e.data["quantity"]) for e in deps.store.outbox_events(request_id)]


def told(deps: Deps) -> list[dict[str, Any]]:
    assert isinstance(deps.notifier, MemoryNotifier)
    return [m for m in deps.notifier.sent if "replenishment" in m["subject"]]


# ------------------------------------------------------------- acceptance
def test_stock_dropping_below_the_reorder_point_opens_exactly_one_request_for_what_reaches_the_target(
        stocked: Deps) -> None:
    warehouse(stocked, adjusted("adj-1", ANT, -15))  # on hand 5: below 10

    [request] = requests(stocked)
    assert (request.warehouse_id, request.sku, request.status, request.quantity) == (WH, ANT, "open", 25)
    assert request.due_at == request.opened_at + timedelta(days=5)
    assert request.position["projected"] == 30 and request.opened_by == "warehouse_events"
    assert events(stocked, request.request_id) == [("oms.stock.replenishment_requested", 25)]
    [entry] = stocked.store.order_audit(request.request_id)
    assert entry.action == "replenishment_requested" and entry.project_id == partition_of(WH)
    assert [c.new for c in entry.changes if c.path == "quantity"] == [25]
    [message] = told(stocked)
    assert message["subject"] == "[OMS] replenishment: 1 requested" and ANT in message["body"]
    assert message["data"]["requests"][0]["quantity"] == 25

    warehouse(stocked, adjusted("adj-1", ANT, -15))  # redelivered: applied once, evaluated again
    run_sweeps(stocked)
    assert len(requests(stocked)) == 1 and len(stocked.store.order_audit(request.request_id)) == 1


def test_more_demand_keeps_one_request_and_raises_its_quantity_on_the_audit_trail(stocked: Deps) -> None:
    warehouse(stocked, adjusted("adj-1", ANT, -15))  # 25 requested
    design(stocked)  # a Draft order needing 3 ANT from WH-EAST: position 5 - 3 = 2

    sweep_replenishment(stocked)

    [request] = requests(stocked)
    assert (request.quantity, request.version, request.position["demand"]) == (28, 2, 3)
    assert events(stocked, request.request_id) == [("oms.stock.replenishment_requested", 25),
                                                   ("oms.stock.replenishment_requested", 28)]
    trail = stocked.store.order_audit(request.request_id)
    assert [e.action for e in trail] == ["replenishment_requested", "replenishment_quantity_raised"]
    assert [(c.old, c.new) for c in trail[1].changes if c.path == "quantity"] == [(25, 28)]
    assert "demand grew" in (trail[1].reason or "")


def test_a_restock_closes_the_request_with_the_time_it_took(stocked: Deps) -> None:
    clock = stocked.clock
    assert isinstance(clock, FixedClock)
    warehouse(stocked, adjusted("adj-1", ANT, -15))
    clock.advance(timedelta(days=3, hours=4))

    warehouse(stocked, adjusted("adj-2", ANT, 25))  # on hand 30: back above the point

    [request] = requests(stocked)
    assert (request.status, request.duration_seconds) == ("fulfilled", 3 * DAY + 4 * 3600)
    assert request.closed_at == request.opened_at + timedelta(days=3, hours=4)
    assert events(stocked, request.request_id)[-1] == ("oms.stock.replenishment_fulfilled", 25)
    assert stocked.store.order_audit(request.request_id)[-1].action == "replenishment_fulfilled"
    assert told(stocked)[-1]["subject"] == "[OMS] replenishment: 1 fulfilled"
    run_sweeps(stocked)
    assert requests(stocked, "open") == []


def test_a_return_that_lifts_stock_above_the_point_closes_the_request(stocked: Deps) -> None:
    stocked.store.put_reorder_policies([policy(point=18, target=25)])
    approve(stocked, design(stocked))
    run_allocation(stocked, RunAllocation())  # 3 ANT reserved: 20 - 3 = 17, below 18
    [request] = requests(stocked)
    assert (request.quantity, request.opened_by) == (8, "allocation")
    warehouse(stocked, completed("wh-done"))  # shipped: on hand 17, reserved 0, still 17
    assert requests(stocked, "open") == [request.model_copy(update={"etag": request.etag})]

    warehouse(stocked, returned("wh-ret", {ANT: 3}, reason="customer_cancellation"))  # on hand 20

    [closed] = requests(stocked)
    assert closed.status == "fulfilled" and closed.closed_by == "warehouse_events"
    assert stocked.store.order_audit(request.request_id)[-1].action == "replenishment_fulfilled"


def test_a_request_closed_and_needed_again_opens_the_next_one_of_its_key(stocked: Deps) -> None:
    for event in (adjusted("adj-1", ANT, -15), adjusted("adj-2", ANT, 20), adjusted("adj-3", ANT, -20)):
        warehouse(stocked, event)  # one batch each: one evaluation after each

    assert [(r.seq, r.status.value) for r in requests(stocked)] == [(1, "fulfilled"), (2, "open")]


def test_a_request_outlives_its_policy_and_the_stock_that_comes_in_still_closes_it(stocked: Deps) -> None:
    warehouse(stocked, adjusted("adj-1", ANT, -15))  # 25 requested
    stocked.store.put_reorder_policies([policy().model_copy(update={"removed": True})])  # gone from the dataset
    warehouse(stocked, adjusted("adj-2", ANT, 30))  # on hand 35

    sweep_replenishment(stocked)  # nothing else watched: the timer's evaluation

    [request] = requests(stocked)
    assert (request.status, request.reorder_point, request.closed_by) == ("fulfilled", 10, "timer")


# ----------------------------------------------------------------- sources
def test_the_reorder_policy_dataset_loads_good_rows_quarantines_bad_ones_and_opens_what_it_makes_short(
        stocked: Deps, tmp_path: Path) -> None:
    rows = [{"warehouse_id": WH, "sku": RRU, "reorder_point": 25, "target_level": 40, "lead_time_days": 7,
             "supplier": "ACME"},
            {"warehouse_id": WH, "sku": CBL, "reorder_point": 8, "target_level": 4, "lead_time_days": 7,
             "supplier": "ACME"},
            {"warehouse_id": WH, "sku": "NOT-A-SKU", "reorder_point": 1, "target_level": 2, "lead_time_days": 1,
             "supplier": None},
            {"warehouse_id": "WH-NOWHERE", "sku": ANT, "reorder_point": 1, "target_level": 2, "lead_time_days": 1,
             "supplier": None}]
    path = tmp_path / "policy.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)

    job = ingest_dataset_file(stocked, "reorder-policy", path)

    assert job.status == "succeeded" and (job.counts["new"], job.counts["quarantined"]) == (1, 3)
    assert [(p.sku, p.reorder_point, p.model_extra) for p in stocked.store.reorder_policies()] == [
        (ANT, 10, {}), (RRU, 25, {"supplier": "ACME"})]
    [record] = stocked.store.list_quarantine().items
    assert sorted((r.loc[1], r.loc[2], r.type) for r in record.reasons) == [
        (1, "target_level", "out_of_range"), (2, "sku", "unknown_reference"),
        (3, "warehouse_id", "unknown_reference")]
    [request] = requests(stocked)  # RRU: 20 on hand < 25
    assert (request.sku, request.quantity, request.opened_by) == (RRU, 20, "policy")
    assert job.details["replenishment"]["opened"] == 1


def test_defaults_per_sku_class_watch_stock_rows_the_dataset_has_no_policy_for(seeded: Deps) -> None:
    settings = seeded.settings.model_copy(update={"reorder_defaults": {
        "ANT": ClassDefault(reorder_point=5, target_level=12, lead_time_days=2)}})
    deps = dataclasses.replace(seeded, settings=settings)
    stock_up(deps, {ANT: 3, RRU: 3})

    report = evaluate_replenishment(deps, EvaluateReplenishment("manual"))

    [request] = requests(deps)
    assert (request.sku, request.quantity, request.policy_source) == (ANT, 9, "default")
    assert report.counts() == {"evaluated": 1, "opened": 1, "raised": 0, "fulfilled": 0, "conflicts": 0}


def test_without_policies_or_defaults_nothing_is_watched_and_nothing_written(seeded: Deps) -> None:
    stock_up(seeded, {ANT: 1})
    warehouse(seeded, adjusted("adj-1", ANT, -1))

    assert sweep_replenishment(seeded) is None
    assert requests(seeded) == [] and seeded.store.pending_outbox() == []
    assert told(seeded) == []


# --------------------------------------------------------------- failures
class _RacingStore:
    """The real store, but two evaluations read the open requests before
    either writes (they meet at a barrier): both decide to open the same
    request."""

    def __init__(self, inner: Any, barrier: threading.Barrier) -> None:
        self._inner, self._barrier = inner, barrier

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def replenishment_requests(self, *args: Any, **kwargs: Any) -> list[ReplenishmentRequest]:
        found = self._inner.replenishment_requests(*args, **kwargs)
        if kwargs.get("status") == "open":
            self._barrier.wait(timeout=10)
        return list(found)


def test_two_evaluations_racing_to_open_the_same_request_make_one(stocked: Deps) -> None:
    stock_up(stocked, {ANT: 4})
    barrier = threading.Barrier(2)
    racing = dataclasses.replace(stocked, store=_RacingStore(stocked.store, barrier))
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda: reports.append(evaluate_replenishment(
        racing, EvaluateReplenishment("manual")))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    [request] = requests(stocked)
    assert request.quantity == 26
    assert len(stocked.store.order_audit(request.request_id)) == 1
    assert events(stocked, request.request_id) == [("oms.stock.replenishment_requested", 26)]
    assert sorted(r.counts()["opened"] for r in reports) == [0, 1]


class _RequestsKeepChanging:
    """The real store, except that every write of a request for `sku` loses to
    a concurrent evaluation (nothing written), however often it is read again."""

    def __init__(self, inner: Any, sku: str) -> None:
        self._inner, self._sku, self.lost = inner, sku, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def commit_replenishment(self, change: RequestChange) -> ConflictKind | None:
        if change.request.sku != self._sku:
            return self._inner.commit_replenishment(change)  # type: ignore[no-any-return]
        self.lost += 1
        return ConflictKind.ETAG


def test_a_key_whose_request_keeps_changing_is_reported_and_the_other_keys_are_still_decided(
        stocked: Deps, caplog: pytest.LogCaptureFixture) -> None:
    stocked.store.put_reorder_policies([policy(), policy(sku=RRU)])
    stock_up(stocked, {ANT: 5, RRU: 5})  # both below their reorder point
    losing = _RequestsKeepChanging(stocked.store, RRU)

    report = evaluate_replenishment(dataclasses.replace(stocked, store=losing), EvaluateReplenishment("manual"))

    assert report.conflicts == [(WH, RRU)] and report.counts()["opened"] == 1
    assert losing.lost == ATTEMPTS
    assert f"replenishment of {(WH, RRU)}: 1 item(s) still lost" in caplog.text
    assert "replenishment: 1 keys kept changing under other evaluations" in caplog.text
    assert [r.sku for r in requests(stocked)] == [ANT]


class _PolicyStoreDown:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def reorder_policies(self, warehouse_id: str | None = None) -> list[ReorderPolicy]:
        raise ConnectionError("store unavailable")


def test_an_evaluation_that_fails_never_fails_the_warehouse_batch_and_the_timer_catches_up(
        stocked: Deps, caplog: pytest.LogCaptureFixture) -> None:
    broken = dataclasses.replace(stocked, store=_PolicyStoreDown(stocked.store))

    report = warehouse(broken, adjusted("adj-1", ANT, -15))

    assert [r.outcome.value for r in report.results] == ["applied"] and report.job.status == "succeeded"
    assert requests(stocked) == [] and "replenishment evaluation after warehouse_events failed" in caplog.text
    sweep_replenishment(stocked)
    assert [r.quantity for r in requests(stocked)] == [25]


def test_a_request_is_mailed_to_the_support_team(stocked: Deps, smtp_server: SmtpServer) -> None:
    mailer = SmtpNotifier(smtp_server.host, smtp_server.port, sender="oms@example.test",
                          recipients=["ops@example.test"], base_delay=0.01)
    deps = dataclasses.replace(stocked, notifier=mailer)

    warehouse(deps, adjusted("adj-1", ANT, -15))

    [mail] = [m for m in smtp_server.box.messages if "replenishment" in str(m["Subject"])]
    assert str(mail["Subject"]) == "[OMS] replenishment: 1 requested"
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert f"requested  {ANT} in {WH}: 25 to reach 30" in body
    assert ORDER not in body
