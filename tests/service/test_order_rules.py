"""The rules of the paper that the order verbs now hold in every path
(issue 12): material on site is never ordered twice, the project master is
the master source, a stock reservation never leaks, a job that cannot start
still tells people, engineering clearance, refusals on the audit trail, site
codes checked, and lines added by hand kept."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest

from common.adapters.notify import MemoryNotifier
from common.domain.models import OrderStatus
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents, RunAllocation
from common.service.handlers.allocation import run_allocation
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.fixtures import load_fixture
from common.service.handlers.review import (
    AddItems,
    ApproveOrder,
    LineInput,
    RejectOrder,
    add_items,
    approve_order,
    reject_order,
)
from tests.conftest import SAMPLES
from tests.helpers.outages import down
from tests.helpers.warehouse import (
    APPROVER,
    ORDER,
    PLANNER,
    allocate,
    approve,
    completed,
    design,
    design_event,
    one,
    release,
    returned,
    stock_up,
)

S = OrderStatus
A, B = "ANT-4T4R-B41", "RRU-B41-160W"
STOCK = {A: 10, B: 10, "CBL-HYB-30M": 10, "MNT-PIPE-2M": 10}


def ingest(deps: Deps, *events: dict[str, Any]) -> list[tuple[str, str | None]]:
    report = ingest_engineering_events(deps, IngestEngineeringEvents(list(events), channel="file"))
    return [(r.outcome.value, r.order_id) for r in report.results]


def lines(deps: Deps, order_id: str = ORDER) -> dict[str, int]:
    order = deps.store.get_order(order_id)
    assert order is not None
    return order.quantities()


def allocated(deps: Deps, items: dict[str, int] | None = None) -> None:
    """The order of the sample design (or of `items`), approved and allocated from STOCK."""
    stock_up(deps, STOCK)
    design(deps, items=items)
    approve(deps, ORDER)
    allocate(deps, ORDER)


def delivered_and_closed(deps: Deps, items: dict[str, int]) -> None:
    allocated(deps, items)
    release(deps, ORDER)
    assert one(deps, completed("wh-done")).outcome.value == "applied"


# --------------------------------------------------- material on site, once

def test_a_reviewed_return_orders_only_what_the_newest_design_needs_beyond_what_stays_on_site(
        seeded: Deps) -> None:
    delivered_and_closed(seeded, {A: 2, B: 3})
    assert one(seeded, returned("wh-ret", {B: 2}, reason="customer_cancellation")).outcome.value == "applied"

    reviewed = reject_order(seeded, RejectOrder(order_id=ORDER, actor=APPROVER, reason="review the return"))

    # A x2 and B x1 stay on site: the design (A x2, B x3) still needs B x2, not the whole delivery again.
    assert (reviewed.status, reviewed.quantities()) == (S.DRAFT, {B: 2})
    ingest(seeded, design_event("evt-v2", version=2, items={A: 2, B: 2}))
    assert lines(seeded) == {B: 1}


def test_a_reviewed_return_with_a_replacing_follow_up_orders_nothing_twice(seeded: Deps) -> None:
    delivered_and_closed(seeded, {A: 2, B: 3})
    result = one(seeded, returned("wh-ret", {B: 2}, reason="damaged"))  # a delta follow-up for B x2
    follow_up = f"{ORDER[:-2]}~2"
    assert lines(seeded, follow_up) == {B: 2}, result.reasons

    reviewed = reject_order(seeded, RejectOrder(order_id=ORDER, actor=APPROVER, reason="review the return"))

    assert reviewed.quantities() == {}  # the follow-up order replaces the returned units already
    with pytest.raises(Exception, match="cannot be approved"):
        approve_order(seeded, ApproveOrder(order_id=ORDER, actor=PLANNER))


def test_items_added_while_reviewing_a_return_come_on_top_of_what_is_still_needed(seeded: Deps) -> None:
    delivered_and_closed(seeded, {A: 2, B: 3})
    one(seeded, returned("wh-ret", {B: 2}, reason="customer_cancellation"))

    order = add_items(seeded, AddItems(order_id=ORDER, actor=PLANNER, items=[LineInput(sku="MNT-PIPE-2M", qty=1)]))

    assert order.quantities() == {B: 2, "MNT-PIPE-2M": 1}


# ----------------------------------------------------- the master is master

def _master(deps: Deps, tmp_path: Path, **changes: Any) -> None:
    rows = [json.loads(line) for line in (SAMPLES / "project-master.jsonl").read_text().splitlines()]
    for row in rows:
        row.update(changes.get(row["project_id"], {}))
    path = tmp_path / "master.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    load_fixture(deps, "project-master", path)


def test_a_master_change_reranks_open_orders_and_is_audited_on_each(seeded: Deps, tmp_path: Path) -> None:
    # Two Approved orders of one warehouse want the same last units: NYC (priority 1) beats BOS (2).
    stock_up(seeded, {A: 3})
    nyc = design(seeded, items={A: 3})
    bos = design(seeded, event_id="e-bos", project="PRJ-0000102", site="BOS-00112", items={A: 3})
    for order_id in (nyc, bos):
        approve(seeded, order_id)

    _master(seeded, tmp_path, **{"PRJ-0000101": {"national_priority": 3}})

    moved = seeded.store.get_order(nyc)
    assert moved is not None and moved.national_priority == 3 and moved.status == S.APPROVED
    (entry,) = [a for a in seeded.store.order_audit(nyc) if a.action == "master_updated"]
    assert [(c.path, c.old, c.new) for c in entry.changes] == [("national_priority", 1, 3)]
    assert not [a for a in seeded.store.order_audit(bos) if a.action == "master_updated"]  # nothing changed there
    report = run_allocation(seeded, RunAllocation(trigger="manual"))
    assert {o.order_id: o.outcome for o in report.orders} == {bos: "allocated", nyc: "short"}


def test_a_new_warehouse_sends_an_allocated_order_back_and_returns_its_reservation(
        seeded: Deps, tmp_path: Path) -> None:
    allocated(seeded)

    _master(seeded, tmp_path, **{"PRJ-0000101": {"warehouse_id": "WH-CENTRAL"}})

    order = seeded.store.get_order(ORDER)
    assert order is not None and (order.status, order.warehouse_id) == (S.DRAFT, "WH-CENTRAL")
    assert seeded.inventory.get_reservation(ORDER) is None
    assert all(r.reserved == 0 for r in seeded.inventory.stock("WH-EAST"))


# ------------------------------------------------------------ no leak, ever

def test_a_parked_design_that_revises_an_allocated_order_returns_its_reservation(
        seeded: Deps, tmp_path: Path) -> None:
    allocated(seeded)
    _master(seeded, tmp_path, **{"PRJ-0000101": {"project_status": "OnHold"}})
    assert ingest(seeded, design_event("evt-v2", version=2, items={A: 4})) == [("parked", None)]

    _master(seeded, tmp_path)  # back to Active: the parked design applies

    order = seeded.store.get_order(ORDER)
    assert order is not None and (order.status, order.quantities()) == (S.DRAFT, {A: 4})
    assert seeded.inventory.get_reservation(ORDER) is None
    assert all(r.reserved == 0 for r in seeded.inventory.stock("WH-EAST"))


# ------------------------------------------------------------------ jobs

def test_a_job_that_cannot_even_start_still_tells_people(seeded: Deps) -> None:
    notifier = MemoryNotifier()
    deps = dataclasses.replace(down(seeded), notifier=notifier)

    with pytest.raises(sqlite3.OperationalError):
        ingest_engineering_events(deps, IngestEngineeringEvents([design_event()], channel="file"))

    (message,) = notifier.sent
    assert message["level"] == "error"
    assert message["subject"].startswith("[OMS] FAILED ingest-engineering-events at step 'start'")
    assert "OperationalError: unable to open database file" in message["body"]


def test_a_file_rejected_whole_is_a_rejected_job(seeded: Deps, tmp_path: Path) -> None:
    from common.service.handlers.datasets import ingest_dataset_file

    bad = tmp_path / "master.parquet"
    bad.write_text("not parquet at all")

    job = ingest_dataset_file(seeded, "master", bad)

    assert job.status == "rejected"
    assert seeded.store.list_jobs(1)[0].status == "rejected"


# ------------------------------------------------------------- clearance

def feasibility(event_id: str, feasible: bool, at: str = "2026-11-21T09:00:00Z") -> dict[str, Any]:
    return {"event_id": event_id, "event_type": "FeasibilityUpdated", "occurred_at": at,
            "project_id": "PRJ-0000101", "site_code": "NYC-00417", "order_type": "NewBuild", "feasible": feasible,
            "checks": [{"name": "power", "status": "passed" if feasible else "failed"}]}


def test_with_clearance_required_nothing_is_approved_or_allocated_before_a_positive_feasibility(
        seeded: Deps) -> None:
    deps = dataclasses.replace(seeded, settings=seeded.settings.model_copy(update={"require_clearance": True}))
    stock_up(deps, STOCK)
    design(deps)

    with pytest.raises(Exception, match="cannot be approved") as refused:
        approve_order(deps, ApproveOrder(order_id=ORDER, actor=APPROVER))
    assert "not_cleared" in {r.type for r in refused.value.reasons}  # type: ignore[attr-defined]

    ingest(deps, feasibility("f-1", True))
    assert approve_order(deps, ApproveOrder(order_id=ORDER, actor=APPROVER)).status == S.APPROVED
    report = run_allocation(deps, RunAllocation(trigger="manual"))
    assert [o.outcome for o in report.orders] == ["allocated"]


def test_without_clearance_required_an_uncleared_stream_may_go_on(seeded: Deps) -> None:
    stock_up(seeded, STOCK)
    design(seeded)
    assert approve_order(seeded, ApproveOrder(order_id=ORDER, actor=APPROVER)).status == S.APPROVED


def test_a_not_feasible_after_release_flags_the_order_notifies_and_shows_on_the_dashboard(seeded: Deps) -> None:
    from common.service.handlers.metrics import flow_metrics

    allocated(seeded)
    release(seeded, ORDER)
    notifier = cast(MemoryNotifier, seeded.notifier)

    ingest(seeded, feasibility("f-no", False))

    order = seeded.store.get_order(ORDER)
    assert order is not None and order.status == S.RELEASED
    assert order.engineering_hold is not None and order.engineering_hold.failed_checks == ["power"]
    assert any("not feasible" in m["body"] for m in notifier.sent if m["level"] == "warning")
    holds = flow_metrics(seeded)["engineering_holds"]
    assert holds["count"] == 1 and holds["orders"][0]["order_id"] == ORDER

    ingest(seeded, feasibility("f-yes", True, at="2026-11-22T09:00:00Z"))
    cleared = seeded.store.get_order(ORDER)
    assert cleared is not None and cleared.engineering_hold is None


# ------------------------------------------------------------ audit trail

def test_a_refused_request_is_on_the_orders_audit_trail_and_changes_nothing_else(seeded: Deps) -> None:
    design(seeded)
    before = seeded.store.get_order(ORDER)
    # The planner made the last change (she added an item): four eyes refuse her approval.
    add_items(seeded, AddItems(order_id=ORDER, actor=PLANNER, items=[LineInput(sku=A, qty=1)]))
    changed = seeded.store.get_order(ORDER)

    with pytest.raises(Exception, match="four-eyes"):
        approve_order(seeded, ApproveOrder(order_id=ORDER, actor=PLANNER, correlation_id="req-1"))

    assert seeded.store.get_order(ORDER) == changed and before is not None
    last = seeded.store.order_audit(ORDER)[-1]
    assert (last.action, last.actor.id, last.correlation_id) == ("approve_refused", PLANNER.id, "req-1")
    assert last.from_status == last.to_status == S.DRAFT and "four-eyes" in (last.reason or "")


# ------------------------------------------------------------ site codes

def test_a_site_the_project_master_does_not_name_is_quarantined_like_an_unknown_sku(seeded: Deps) -> None:
    assert ingest(seeded, design_event("e-x", site="NYC-99999")) == [("quarantined", None)]

    (record,) = seeded.store.list_quarantine().items
    assert [(r.loc, r.type) for r in record.reasons] == [(["site_code"], "unknown_site")]
    assert seeded.store.query_orders(OrderQuery()).items == []


# --------------------------------------------------------- lines by hand

def test_lines_added_by_hand_survive_a_design_revision_and_the_revision_says_so(seeded: Deps) -> None:
    design(seeded)
    add_items(seeded, AddItems(order_id=ORDER, actor=PLANNER, items=[LineInput(sku="MNT-PIPE-2M", qty=2)]))

    ingest(seeded, design_event("evt-v2", version=2, items={A: 5}))

    order = seeded.store.get_order(ORDER)
    assert order is not None
    assert {(ln.sku, ln.qty, ln.source.value) for ln in order.lines} == {(A, 5, "engineering"),
                                                                        ("MNT-PIPE-2M", 2, "manual")}
    revise = [a for a in seeded.store.order_audit(ORDER) if a.action == "revise"][-1]
    assert "kept: MNT-PIPE-2M x2" in (revise.reason or "")


def test_with_keep_manual_lines_off_a_revision_drops_them_and_says_so(seeded: Deps) -> None:
    deps = dataclasses.replace(seeded, settings=seeded.settings.model_copy(update={"keep_manual_lines": False}))
    design(deps)
    add_items(deps, AddItems(order_id=ORDER, actor=PLANNER, items=[LineInput(sku="MNT-PIPE-2M", qty=2)]))

    ingest(deps, design_event("evt-v2", version=2, items={A: 5}))

    assert lines(deps) == {A: 5}
    revise = [a for a in deps.store.order_audit(ORDER) if a.action == "revise"][-1]
    assert "dropped (OMS_KEEP_MANUAL_LINES is off): MNT-PIPE-2M x2" in (revise.reason or "")
    assert ("lines[MNT-PIPE-2M]", {"line_no": 4, "sku": "MNT-PIPE-2M", "qty": 2, "uom": "EA", "source": "manual"},
            None) in [(c.path, c.old, c.new) for c in revise.changes]
