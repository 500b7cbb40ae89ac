"""Warehouse callbacks through the real handler on the embedded store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from common.adapters.clock import FixedClock
from common.domain.models import OrderStatus
from common.service.bootstrap import Deps
from common.service.handlers.warehouse import sweep_held_events
from common.service.paging import all_audit
from tests.helpers.warehouse import (
    DESIGN,
    ORDER,
    adjusted,
    allocate,
    approve,
    completed,
    design,
    on_hand,
    one,
    rejected,
    release,
    returned,
    snapshot,
    stock_up,
    warehouse,
)


def _order(deps: Deps) -> Any:
    order = deps.store.get_order(ORDER)
    assert order is not None
    return order


def test_release_completed_closes_the_order_and_consumes_the_reservation(released: Deps) -> None:
    result = one(released, completed("wh-1"))
    assert (result.outcome.value, result.order_id) == ("applied", ORDER)
    assert _order(released).status == OrderStatus.CLOSED
    assert on_hand(released) == {"ANT-4T4R-B41": (7, 0), "RRU-B41-160W": (7, 0), "CBL-HYB-30M": (4, 0)}
    assert released.inventory is not None and released.inventory.get_reservation(ORDER) is None
    last = released.store.order_audit(ORDER)[-1]
    assert (last.action, last.from_status, last.to_status, last.correlation_id) == (
        "complete", OrderStatus.RELEASED, OrderStatus.CLOSED, "wh-1")
    assert released.store.outbox_events(ORDER)[-1].type == "oms.order.closed"


def test_redelivered_release_completed_changes_nothing(released: Deps) -> None:
    one(released, completed("wh-1"))
    before = snapshot(released)
    result = one(released, completed("wh-1"))
    assert result.outcome.value == "skipped_duplicate"
    assert snapshot(released) == before


def test_release_rejected_goes_back_to_draft_with_the_reason_and_returns_the_reservation(released: Deps) -> None:
    result = one(released, rejected("wh-2", reason="config_mismatch"))
    assert result.outcome.value == "applied"
    order = _order(released)
    assert (order.status, order.rejection_reason, order.approved_by) == (OrderStatus.DRAFT, "config_mismatch", None)
    assert on_hand(released) == {"ANT-4T4R-B41": (10, 0), "RRU-B41-160W": (10, 0), "CBL-HYB-30M": (10, 0)}
    last = released.store.order_audit(ORDER)[-1]
    assert (last.action, last.reason, last.to_status) == ("warehouse_reject", "config_mismatch", OrderStatus.DRAFT)
    assert released.store.outbox_events(ORDER)[-1].type == "oms.order.rejected"


def test_partial_returns_add_up_to_a_full_return(released: Deps) -> None:
    one(released, completed("wh-1"))
    first = one(released, returned("wh-3", {"ANT-4T4R-B41": 1}, reason="customer_cancellation"))
    assert first.outcome.value == "applied"
    order = _order(released)
    assert (order.status, order.returned) == (OrderStatus.PARTIALLY_RETURNED, {"ANT-4T4R-B41": 1})
    assert on_hand(released)["ANT-4T4R-B41"] == (8, 0)
    second = one(released, returned("wh-4", {"ANT-4T4R-B41": 2, "RRU-B41-160W": 3, "CBL-HYB-30M": 6},
                                    reason="customer_cancellation"))
    assert second.outcome.value == "applied"
    order = _order(released)
    assert order.status == OrderStatus.FULLY_RETURNED
    assert order.returned == DESIGN
    assert on_hand(released) == {"ANT-4T4R-B41": (10, 0), "RRU-B41-160W": (10, 0), "CBL-HYB-30M": (10, 0)}
    audit = released.store.order_audit(ORDER)[-1]
    assert (audit.action, audit.reason, audit.from_status, audit.to_status) == (
        "return", "customer_cancellation", OrderStatus.PARTIALLY_RETURNED, OrderStatus.FULLY_RETURNED)
    assert {c.path: (c.old, c.new) for c in audit.changes}["returned.ANT-4T4R-B41"] == (1, 3)
    assert released.store.outbox_events(ORDER)[-1].data["returned_items"] == {
        "ANT-4T4R-B41": 2, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}


def test_damaged_return_creates_a_delta_order_replacing_the_returned_lines(released: Deps) -> None:
    one(released, completed("wh-1"))
    result = one(released, returned("wh-3", {"RRU-B41-160W": 2}, reason="damaged"))
    follow_up = released.store.get_order(f"{ORDER[:-2]}~2")
    assert follow_up is not None
    assert (follow_up.kind.value, follow_up.status, follow_up.parent_order_id) == ("delta", OrderStatus.DRAFT, ORDER)
    assert [(ln.sku, ln.qty, ln.source.value) for ln in follow_up.lines] == [("RRU-B41-160W", 2, "return")]
    assert any(follow_up.order_id in note for note in result.reasons)
    assert released.store.outbox_events(follow_up.order_id)[0].type == "oms.order.created"
    assert released.store.outbox_events(ORDER)[-1].data["follow_up_order_id"] == follow_up.order_id


def test_design_change_return_creates_a_new_order_from_the_latest_design(released: Deps) -> None:
    one(released, completed("wh-1"))
    one(released, returned("wh-3", DESIGN, reason="design_change"))
    follow_up = released.store.get_order(f"{ORDER[:-2]}~2")
    assert follow_up is not None
    assert (follow_up.kind.value, follow_up.parent_order_id) == ("standard", ORDER)
    assert follow_up.quantities() == DESIGN


def test_customer_cancellation_return_has_no_follow_up(released: Deps) -> None:
    one(released, completed("wh-1"))
    one(released, returned("wh-3", {"CBL-HYB-30M": 1}, reason="customer_cancellation"))
    assert released.store.get_order(f"{ORDER[:-2]}~2") is None


def test_the_return_policy_is_configurable(released: Deps) -> None:
    released.settings = released.settings.model_copy(update={"return_policy": {"damaged": "none"}})
    one(released, completed("wh-1"))
    assert one(released, returned("wh-3", {"CBL-HYB-30M": 1}, reason="damaged")).outcome.value == "applied"
    assert released.store.get_order(f"{ORDER[:-2]}~2") is None
    refused = one(released, returned("wh-4", {"CBL-HYB-30M": 1}, reason="technical_issue"))
    assert refused.outcome.value == "quarantined"


def test_stock_adjustment_changes_on_hand_once(released: Deps) -> None:
    assert one(released, adjusted("wh-9", "MNT-PIPE-2M", 5)).outcome.value == "applied"
    assert one(released, adjusted("wh-9", "MNT-PIPE-2M", 5)).outcome.value == "skipped_duplicate"
    assert one(released, adjusted("wh-10", "ANT-4T4R-B41", -4)).outcome.value == "applied"
    assert on_hand(released)["MNT-PIPE-2M"] == (5, 0)
    assert on_hand(released)["ANT-4T4R-B41"] == (6, 3)


def test_a_redelivered_negative_adjustment_is_a_duplicate_even_when_stock_is_tight(released: Deps) -> None:
    one(released, adjusted("wh-10", "ANT-4T4R-B41", -7))
    assert on_hand(released)["ANT-4T4R-B41"] == (3, 3)
    assert one(released, adjusted("wh-10", "ANT-4T4R-B41", -7)).outcome.value == "skipped_duplicate"


BAD_EVENTS: list[tuple[str, Any, str]] = [
    ("not an object", [1, 2], "model_type"),
    ("unknown type", {"event_id": "b1", "event_type": "Shipped", "occurred_at": "2026-11-20T09:00:00Z"}, "enum"),
    ("missing order", {"event_id": "b2", "event_type": "ReleaseCompleted", "occurred_at": "2026-11-20T09:00:00Z"},
     "missing"),
    ("unknown order", completed("b3", order_id="PRJ-0000101~NYC-00417~NewBuild~9"), "unknown_order"),
    ("reject without reason", {**rejected("b4"), "reason": ""}, "string_too_short"),
    ("return of an order not delivered yet is held, but a Draft is impossible", None, ""),
    ("return of a SKU not on the order", returned("b6", {"MNT-PIPE-2M": 1}), "unknown_line"),
    ("return of more than delivered", returned("b7", {"ANT-4T4R-B41": 4}), "over_return"),
    ("return with an unknown reason", returned("b8", {"ANT-4T4R-B41": 1}, reason="boredom"), "unknown_reason"),
    ("return listing a SKU twice", {**returned("b9", {"ANT-4T4R-B41": 1}),
                                    "items": [{"sku": "ANT-4T4R-B41", "qty": 1}] * 2}, "duplicate"),
    ("return with a zero quantity", returned("b10", {"ANT-4T4R-B41": 0}), "greater_than"),
    ("completing a closed order", completed("b11"), "illegal_transition"),
    ("adjustment below zero", adjusted("b12", "ANT-4T4R-B41", -99), "negative_stock"),
    ("adjustment of an unknown SKU", adjusted("b13", "NOPE", 1), "unknown_sku"),
    ("adjustment in an unknown warehouse", adjusted("b14", "ANT-4T4R-B41", 1, warehouse_id="WH-MARS"),
     "unknown_warehouse"),
    ("adjustment of zero", adjusted("b15", "ANT-4T4R-B41", 0), "value_error"),
    ("adjustment with a boolean", {**adjusted("b16", "ANT-4T4R-B41", 1), "delta": True}, "int_type"),
]


@pytest.mark.parametrize(("name", "event", "reason_type"), [b for b in BAD_EVENTS if b[1] is not None],
                         ids=[b[0] for b in BAD_EVENTS if b[1] is not None])
def test_every_malformed_or_impossible_event_is_quarantined_with_its_reason_and_changes_nothing(
        released: Deps, name: str, event: Any, reason_type: str) -> None:
    one(released, completed("wh-1"))
    before = snapshot(released)
    report = warehouse(released, event)
    (result,) = report.results
    assert result.outcome.value == "quarantined", name
    assert result.reasons
    assert report.counts["quarantined"] == 1
    records = released.store.list_quarantine().items
    assert len(records) == 1
    assert records[0].source == "warehouse-events"
    assert reason_type in {r.type for r in records[0].reasons}, records[0].reasons
    assert records[0].payload == event
    assert snapshot(released, refusals=False) == before
    refused = [a for a in all_audit(released.store) if a.action.endswith("_refused")]
    if isinstance(event, dict) and released.store.get_order(str(event.get("order_id"))) is not None:
        # A callback for an existing order leaves its refusal on the order's audit trail.
        (entry,) = refused
        assert (entry.order_id, entry.correlation_id, entry.action) == (
            event["order_id"], event["event_id"], "warehouse_event_refused")
        assert entry.from_status == entry.to_status and reason_type in str(entry.changes[0].new)
    else:
        assert refused == []


def test_completing_a_draft_order_is_quarantined_and_its_refusal_audited(seeded: Deps) -> None:
    design(seeded)
    before = snapshot(seeded)
    result = one(seeded, completed("wh-1"))
    assert result.outcome.value == "quarantined"
    assert "Draft" in result.reasons[0]
    assert snapshot(seeded, refusals=False) == before
    assert [a.action for a in seeded.store.order_audit(ORDER)][-1] == "warehouse_event_refused"
    one(seeded, completed("wh-1"))  # the same callback again: refused again, audited once
    assert [a.action for a in seeded.store.order_audit(ORDER)].count("warehouse_event_refused") == 1


def test_undecodable_body_is_quarantined(released: Deps) -> None:
    from common.service.commands import ApplyWarehouseEvents, Undecodable
    from common.service.handlers.warehouse import apply_warehouse_events

    report = apply_warehouse_events(released, ApplyWarehouseEvents([Undecodable("{nope", "bad json")]))
    assert report.results[0].outcome.value == "quarantined"
    assert released.store.list_quarantine().items[0].payload == "{nope"


def test_quarantined_event_is_applied_when_sent_again_after_the_fix(seeded: Deps) -> None:
    stock_up(seeded, {"ANT-4T4R-B41": 10, "RRU-B41-160W": 10, "CBL-HYB-30M": 10})
    design(seeded)
    assert one(seeded, completed("wh-1")).outcome.value == "quarantined"  # Draft: impossible
    approve(seeded, ORDER)
    allocate(seeded, ORDER)
    release(seeded, ORDER)
    assert one(seeded, completed("wh-1")).outcome.value == "applied"  # no marker was written for the refusal


# ----------------------------------------------------------- out of order

# `allocated` (tests/conftest.py): the sample design's order, Allocated from 10 of each SKU.
def test_an_early_release_completed_is_held_and_applied_on_release(allocated: Deps) -> None:
    before_stock = on_hand(allocated)
    result = one(allocated, completed("wh-1"))
    assert result.outcome.value == "parked"
    order = _order(allocated)
    assert (order.status, [h.event_id for h in order.held_events]) == (OrderStatus.ALLOCATED, ["wh-1"])
    assert on_hand(allocated) == before_stock
    assert allocated.store.order_audit(ORDER)[-1].action == "warehouse_event_held"
    assert one(allocated, completed("wh-1")).outcome.value == "skipped_duplicate"
    release(allocated, ORDER)
    order = _order(allocated)
    assert (order.status, order.held_events) == (OrderStatus.CLOSED, [])
    assert on_hand(allocated) == {"ANT-4T4R-B41": (7, 0), "RRU-B41-160W": (7, 0), "CBL-HYB-30M": (4, 0)}
    actions = [a.action for a in allocated.store.order_audit(ORDER)]
    assert actions[-3:] == ["warehouse_event_held", "release", "complete"]


def test_held_completion_and_return_apply_in_their_order(allocated: Deps) -> None:
    warehouse(allocated, returned("wh-3", {"ANT-4T4R-B41": 1}, reason="customer_cancellation"), completed("wh-1"))
    assert [h.event_id for h in _order(allocated).held_events] == ["wh-3", "wh-1"]
    release(allocated, ORDER)
    order = _order(allocated)
    assert (order.status, order.returned, order.held_events) == (
        OrderStatus.PARTIALLY_RETURNED, {"ANT-4T4R-B41": 1}, [])
    assert on_hand(allocated)["ANT-4T4R-B41"] == (8, 0)


def test_a_held_event_is_applied_by_the_next_event_for_its_order_without_the_hook(allocated: Deps) -> None:
    one(allocated, completed("wh-1"))
    from common.domain.events import OrderEventType
    from common.domain.lifecycle import Action
    from tests.helpers.warehouse import _move

    _move(allocated, ORDER, Action.RELEASE, OrderEventType.RELEASE_REQUESTED)  # no hook called
    assert _order(allocated).status == OrderStatus.RELEASED
    result = one(allocated, returned("wh-3", {"ANT-4T4R-B41": 1}, reason="customer_cancellation"))
    assert result.outcome.value == "applied"
    assert _order(allocated).status == OrderStatus.PARTIALLY_RETURNED


def test_a_held_event_is_quarantined_after_the_hold_limit(allocated: Deps, clock: FixedClock) -> None:
    one(allocated, completed("wh-1"))
    clock.advance(timedelta(minutes=allocated.settings.hold_minutes - 1))
    assert sweep_held_events(allocated) == []
    assert _order(allocated).held_events
    clock.advance(timedelta(minutes=2))
    (result,) = sweep_held_events(allocated)
    assert (result.event_id, result.outcome.value) == ("wh-1", "quarantined")
    order = _order(allocated)
    assert (order.status, order.held_events) == (OrderStatus.ALLOCATED, [])
    (record,) = allocated.store.list_quarantine().items
    assert record.reasons[0].type == "hold_expired"
    assert record.payload["event_id"] == "wh-1"
    assert allocated.store.order_audit(ORDER)[-1].action == "warehouse_event_quarantined"


def test_a_held_event_that_can_never_apply_is_quarantined(allocated: Deps) -> None:
    one(allocated, completed("wh-1"))
    design(allocated, event_id="evt-2", version=2, items={"ANT-4T4R-B41": 1})  # revised back to Draft
    from common.service.handlers.warehouse import apply_held_events

    (result,) = apply_held_events(allocated, [ORDER])
    assert result.outcome.value == "quarantined"
    assert _order(allocated).held_events == []


def test_a_file_of_warehouse_events_is_one_job_run_and_its_replay_is_all_duplicates(
        released: Deps, tmp_path: Any, clock: FixedClock) -> None:
    import json

    from common.service.event_files import WAREHOUSE, ingest_event_file

    path = tmp_path / "wh.jsonl"
    path.write_text("\n".join([json.dumps(completed("wh-1")), "{not json",
                               json.dumps(adjusted("wh-2", "ANT-4T4R-B41", 1))]) + "\n")
    run = ingest_event_file(released, WAREHOUSE, path)
    assert (run.job, run.status) == ("ingest-warehouse-events", "succeeded")
    run = released.store.list_jobs(1)[0]
    assert (run.counts["modified"], run.counts["quarantined"], run.counts["received"]) == (2, 1, 3)
    clock.advance(timedelta(seconds=1))
    assert ingest_event_file(released, WAREHOUSE, path).status == "succeeded"
    assert released.store.list_jobs(1)[0].counts["skipped_duplicate"] == 2


def test_a_held_event_that_expired_is_applied_when_its_quarantine_record_is_reprocessed(
        allocated: Deps, clock: FixedClock) -> None:
    from common.service.commands import ReprocessQuarantined
    from common.service.handlers.quarantine import reprocess_quarantined
    from tests.helpers.warehouse import PLANNER

    one(allocated, completed("wh-1"))
    clock.advance(timedelta(minutes=allocated.settings.hold_minutes + 1))
    sweep_held_events(allocated)
    (record,) = allocated.store.list_quarantine().items
    release(allocated, ORDER)
    result = reprocess_quarantined(allocated, ReprocessQuarantined(record.id, PLANNER))
    assert [r["outcome"] for r in result.results] == ["applied"]
    assert _order(allocated).status == OrderStatus.CLOSED
    assert on_hand(allocated) == {"ANT-4T4R-B41": (7, 0), "RRU-B41-160W": (7, 0), "CBL-HYB-30M": (4, 0)}
    assert result.record.status == "reprocessed"
    # Redelivered again from the warehouse afterwards: still a duplicate.
    assert one(allocated, completed("wh-1")).outcome.value == "skipped_duplicate"


def test_a_held_event_applied_by_the_release_step_is_audited_as_the_warehouse_that_sent_it(
        allocated: Deps) -> None:
    from common.domain.models import ActorType
    from common.service.commands import RunAllocation
    from common.service.handlers.allocation import run_allocation

    one(allocated, completed("wh-1"))
    run_allocation(allocated, RunAllocation())
    assert _order(allocated).status == OrderStatus.CLOSED
    (entry,) = [a for a in allocated.store.order_audit(ORDER) if a.action == "complete"]
    assert (entry.actor.type, entry.actor.id, entry.correlation_id) == (ActorType.EXTERNAL, "warehouse", "wh-1")
