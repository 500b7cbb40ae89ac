"""The delta rules (DESIGN.md section 3, "Engineering events") at the domain
level: every outcome of `decide` for one stream, with no store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from common.domain.delta import Decision, Outcome, StreamState, decide, reevaluate_parked
from common.domain.effects import evolve
from common.domain.inbound import EngineeringEvent
from common.domain.models import SYSTEM, LineSource, Order, OrderKind, OrderLine, OrderStatus, Project, StreamKey
from common.domain.validation import QualifyingPolicy

S = OrderStatus
AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
KEY = StreamKey(project_id="PRJ-1", site_code="NYC-1", order_type="NewBuild")
POLICY = QualifyingPolicy()
V1 = {"ANT": 3, "RRU": 3, "CBL": 6}
V2 = {"ANT": 4, "RRU": 3, "MNT": 2}


def project(**changes: Any) -> Project:
    fields: dict[str, Any] = {"project_id": "PRJ-1", "site_code": "NYC-1", "market": "New York",
                              "project_status": "Active", "milestone": "MilestoneApproved",
                              "plan_type": "Coverage", "national_priority": 1, "warehouse_id": "WH-EAST"}
    fields.update(changes)
    return Project(**fields)


def design(version: int, items: dict[str, int], event_id: str | None = None,
           event_type: str = "DesignRevised") -> EngineeringEvent:
    return EngineeringEvent.model_validate({
        "event_id": event_id or f"evt-v{version}", "event_type": event_type,
        "occurred_at": AT.isoformat(), "project_id": KEY.project_id, "site_code": KEY.site_code,
        "order_type": KEY.order_type, "design_version": version,
        "items": [{"sku": sku, "qty": qty} for sku, qty in items.items()],
    })


def schedule(event_id: str, need_by: date, occurred_at: datetime) -> EngineeringEvent:
    return EngineeringEvent.model_validate({
        "event_id": event_id, "event_type": "ScheduleUpdated", "occurred_at": occurred_at.isoformat(),
        "project_id": KEY.project_id, "site_code": KEY.site_code, "order_type": KEY.order_type,
        "need_by": need_by.isoformat()})


def apply(state: StreamState, event: EngineeringEvent, prj: Project | None = None,
          at: datetime = AT) -> Decision:
    return decide(state, event, prj or project(), POLICY, at)


def qty(order: Order) -> dict[str, int]:
    return order.quantities()


def first_order(v1: dict[str, int] = V1) -> tuple[StreamState, Order]:
    state = StreamState.new(KEY)
    made = apply(state, design(1, v1, event_type="DesignApproved"))
    assert made.order_id is not None
    return state, state.orders[made.order_id]


def set_status(state: StreamState, order: Order, status: OrderStatus, **changes: Any) -> Order:
    moved = evolve(order, AT, status=status, **changes)
    state.orders[moved.order_id] = moved
    return moved


# ------------------------------------------------------------- new orders

def test_a_first_design_creates_a_standard_draft_order_with_its_items() -> None:
    state = StreamState.new(KEY)
    decision = apply(state, design(1, V1, event_type="DesignApproved"))

    assert decision.outcome == Outcome.CREATED
    (effect,) = decision.effects
    order = effect.order
    assert decision.order_id == order.order_id == f"{KEY.id}~1"
    assert (order.kind, order.status, order.revision, order.design_version) == (
        OrderKind.STANDARD, S.DRAFT, 1, 1)
    assert order.parent_order_id is None
    assert [(line.line_no, line.sku, line.qty) for line in order.lines] == [
        (1, "ANT", 3), (2, "RRU", 3), (3, "CBL", 6)]
    assert (order.warehouse_id, order.national_priority, order.market) == ("WH-EAST", 1, "New York")
    assert effect.audit.action == "create"
    assert (effect.audit.from_status, effect.audit.to_status) == (None, S.DRAFT)
    assert effect.audit.correlation_id == "evt-v1"
    assert effect.outbox is not None and effect.outbox.type == "oms.order.created"
    assert effect.outbox.subject == order.order_id
    assert decision.stream is not None
    assert (decision.stream.design_version, decision.stream.order_ids, decision.stream.next_seq) == (
        1, [order.order_id], 2)


def test_replaying_a_design_on_a_fresh_stream_yields_the_same_order_id() -> None:
    a, b = StreamState.new(KEY), StreamState.new(KEY)
    assert apply(a, design(1, V1)).order_id == apply(b, design(1, V1)).order_id


def test_a_stream_whose_latest_order_is_cancelled_gets_a_new_standard_order() -> None:
    state, order = first_order()
    cancelled = set_status(state, order, S.CANCELLED)

    decision = apply(state, design(2, V2))

    assert decision.outcome == Outcome.CREATED
    (effect,) = decision.effects
    new = effect.order
    assert new.order_id == f"{KEY.id}~2" != cancelled.order_id
    assert (new.kind, new.status, new.parent_order_id, new.revision) == (OrderKind.STANDARD, S.DRAFT, None, 1)
    assert qty(new) == V2  # a cancelled order holds nothing
    assert state.orders[cancelled.order_id].status == S.CANCELLED


# --------------------------------------------------------------- revisions

def test_a_newer_design_revises_a_draft_order_in_place_with_only_the_delta_audited() -> None:
    state, order = first_order()

    decision = apply(state, design(2, V2))

    assert decision.outcome == Outcome.REVISED
    assert decision.order_id == order.order_id
    (effect,) = decision.effects
    revised = effect.order
    assert (revised.order_id, revised.status, revised.revision, revised.design_version) == (
        order.order_id, S.DRAFT, 2, 2)
    assert [(line.line_no, line.sku, line.qty) for line in revised.lines] == [
        (1, "ANT", 4), (2, "RRU", 3), (3, "MNT", 2)]
    changes = {c.path: (c.old, c.new) for c in effect.audit.changes}
    assert set(changes) == {"revision", "design_version", "lines[ANT].qty", "lines[CBL]", "lines[MNT]"}
    assert changes["revision"] == (1, 2)
    assert changes["design_version"] == (1, 2)
    assert changes["lines[ANT].qty"] == (3, 4)
    assert changes["lines[CBL]"][1] is None and changes["lines[CBL]"][0]["qty"] == 6
    assert changes["lines[MNT]"][0] is None and changes["lines[MNT]"][1]["qty"] == 2
    assert effect.audit.action == "revise"
    assert (effect.audit.from_status, effect.audit.to_status) == (S.DRAFT, S.DRAFT)
    assert effect.outbox is not None and effect.outbox.type == "oms.order.revised"
    assert effect.stock.release is None
    assert len(state.ordered()) == 1


def test_a_newer_design_sends_an_approved_order_back_to_draft() -> None:
    state, order = first_order()
    set_status(state, order, S.APPROVED, approved_at=AT, approved_by="alice")

    decision = apply(state, design(2, V2))

    assert decision.outcome == Outcome.REVISED
    (effect,) = decision.effects
    assert (effect.order.status, effect.order.revision, qty(effect.order)) == (S.DRAFT, 2, V2)
    assert (effect.order.approved_at, effect.order.approved_by) == (None, None)
    assert (effect.audit.from_status, effect.audit.to_status) == (S.APPROVED, S.DRAFT)
    assert any(c.path == "status" and (c.old, c.new) == ("Approved", "Draft") for c in effect.audit.changes)
    assert effect.stock.release is None


def test_a_newer_design_sends_an_allocated_order_back_to_draft_and_returns_its_reservation() -> None:
    state, order = first_order()
    set_status(state, order, S.ALLOCATED)

    decision = apply(state, design(2, V2))

    assert decision.outcome == Outcome.REVISED
    (effect,) = decision.effects
    assert (effect.order.status, effect.order.revision, qty(effect.order)) == (S.DRAFT, 2, V2)
    assert (effect.audit.from_status, effect.audit.to_status) == (S.ALLOCATED, S.DRAFT)
    assert effect.stock.release == effect.order.order_id


def test_a_design_with_identical_content_leaves_the_order_unchanged() -> None:
    state, order = first_order()

    decision = apply(state, design(2, dict(V1)))

    assert decision.outcome == Outcome.SKIPPED_UNCHANGED
    assert decision.order_id == order.order_id
    assert decision.effects == []
    assert state.orders[order.order_id] == order
    assert decision.stream is not None and decision.stream.design_version == 2


def test_a_design_with_the_same_items_in_another_order_is_unchanged() -> None:
    state, _ = first_order()
    decision = apply(state, design(2, dict(reversed(list(V1.items())))))
    assert decision.outcome == Outcome.SKIPPED_UNCHANGED


# ---------------------------------------------------- released and delivered

def test_a_released_order_gets_a_delta_order_with_only_the_changed_lines() -> None:
    state, order = first_order()
    released = set_status(state, order, S.RELEASED)

    decision = apply(state, design(2, V2))

    assert decision.outcome == Outcome.DELTA_CREATED
    (effect,) = decision.effects
    delta = effect.order
    assert (delta.kind, delta.status, delta.parent_order_id, delta.revision, delta.design_version) == (
        OrderKind.DELTA, S.DRAFT, released.order_id, 1, 2)
    assert delta.order_id == f"{KEY.id}~2"
    assert [(line.line_no, line.sku, line.qty) for line in delta.lines] == [(1, "ANT", 1), (2, "MNT", 2)]
    assert state.orders[released.order_id] == released  # the released order is untouched
    assert effect.outbox is not None and effect.outbox.type == "oms.order.created"
    # CBL is no longer needed; only a return can take released stock back.
    assert any("CBL" in reason for reason in decision.reasons)


def test_a_newer_design_revises_the_open_delta_order_against_the_released_one() -> None:
    state, order = first_order()
    set_status(state, order, S.RELEASED)
    delta_id = apply(state, design(2, V2)).order_id
    assert delta_id is not None

    decision = apply(state, design(3, {"ANT": 5, "RRU": 3, "CBL": 6, "MNT": 2}))

    assert decision.outcome == Outcome.REVISED
    assert decision.order_id == delta_id
    (effect,) = decision.effects
    assert (effect.order.kind, effect.order.revision, qty(effect.order)) == (
        OrderKind.DELTA, 2, {"ANT": 2, "MNT": 2})


def test_a_delta_order_with_nothing_left_to_deliver_is_cancelled() -> None:
    state, order = first_order()
    set_status(state, order, S.RELEASED)
    delta_id = apply(state, design(2, V2)).order_id
    assert delta_id is not None

    decision = apply(state, design(3, V1))

    assert decision.outcome == Outcome.REVISED
    (effect,) = decision.effects
    assert (effect.order.order_id, effect.order.status, effect.order.lines) == (delta_id, S.CANCELLED, [])
    assert effect.outbox is not None and effect.outbox.type == "oms.order.cancelled"


@pytest.mark.parametrize("status", [S.APPROVED, S.ALLOCATED], ids=str)
def test_an_approved_or_allocated_delta_order_with_nothing_left_goes_to_draft_then_cancelled(
        status: OrderStatus) -> None:
    state, order = first_order()
    set_status(state, order, S.RELEASED)
    delta_id = apply(state, design(2, V2)).order_id
    assert delta_id is not None
    set_status(state, state.orders[delta_id], status)

    decision = apply(state, design(3, V1))

    assert decision.outcome == Outcome.REVISED
    revise, cancel = decision.effects
    assert (revise.before.status if revise.before else None, revise.order.status) == (status, S.DRAFT)
    assert (revise.stock.release is not None) is (status == S.ALLOCATED)
    assert (cancel.before, cancel.order.status, cancel.order.lines) == (revise.order, S.CANCELLED, [])
    assert [e.audit.action for e in decision.effects] == ["revise", "cancel"]
    assert [e.outbox.type for e in decision.effects if e.outbox] == ["oms.order.revised", "oms.order.cancelled"]
    assert cancel.order.version == revise.order.version + 1
    assert state.orders[delta_id].status == S.CANCELLED


@pytest.mark.parametrize("status", [S.CLOSED, S.PARTIALLY_RETURNED, S.FULLY_RETURNED], ids=str)
def test_a_delivered_order_gets_a_supplemental_order_for_what_goes_beyond_delivered(status: OrderStatus) -> None:
    state, order = first_order()
    # Delivered = closed quantities minus returns: ANT 3 - 1 = 2, RRU 3 - 3 = 0, CBL 6.
    returned = {"ANT": 1, "RRU": 3} if status != S.CLOSED else {}
    delivered = set_status(state, order, status, returned=returned)

    decision = apply(state, design(2, {"ANT": 3, "RRU": 3, "CBL": 6}))

    if status == S.CLOSED:
        assert decision.outcome == Outcome.SKIPPED_UNCHANGED
        assert decision.effects == []
        return
    assert decision.outcome == Outcome.SUPPLEMENTAL_CREATED
    (effect,) = decision.effects
    sup = effect.order
    assert (sup.kind, sup.status, sup.parent_order_id, sup.design_version) == (
        OrderKind.SUPPLEMENTAL, S.DRAFT, delivered.order_id, 2)
    assert [(line.sku, line.qty) for line in sup.lines] == [("ANT", 1), ("RRU", 3)]


def test_a_closed_order_gets_a_supplemental_order_with_only_the_extra_quantities() -> None:
    state, order = first_order()
    closed = set_status(state, order, S.CLOSED)

    decision = apply(state, design(2, {"ANT": 5, "RRU": 3, "CBL": 6, "MNT": 2}))

    assert decision.outcome == Outcome.SUPPLEMENTAL_CREATED
    (effect,) = decision.effects
    assert (effect.order.kind, effect.order.parent_order_id) == (OrderKind.SUPPLEMENTAL, closed.order_id)
    assert qty(effect.order) == {"ANT": 2, "MNT": 2}


def test_a_design_needing_nothing_beyond_delivered_is_skipped() -> None:
    state, order = first_order()
    set_status(state, order, S.CLOSED)

    decision = apply(state, design(2, {"ANT": 2, "RRU": 3}))

    assert decision.outcome == Outcome.SKIPPED_UNCHANGED
    assert decision.effects == []
    assert len(state.ordered()) == 1
    assert any("nothing beyond" in reason for reason in decision.reasons)


# ------------------------------------------------------------------ stale

@pytest.mark.parametrize("older", [1, 2], ids=["older", "same"])
def test_a_design_version_not_newer_than_the_applied_one_is_skipped_stale_and_audited(older: int) -> None:
    state, order = first_order()
    apply(state, design(2, V2))
    before = state.orders[order.order_id]

    decision = apply(state, design(older, {"ANT": 9}, event_id="evt-late"))

    assert decision.outcome == Outcome.SKIPPED_STALE
    assert decision.effects == [] and decision.stream is None
    assert state.orders[order.order_id] == before
    (entry,) = decision.stream_audit
    assert (entry.action, entry.stream_id, entry.order_id, entry.correlation_id) == (
        "design_skipped_stale", KEY.id, order.order_id, "evt-late")
    assert entry.reason == f"design version {older} is not newer than version 2"


def test_a_design_older_than_a_parked_one_is_stale() -> None:
    state = StreamState.new(KEY)
    apply(state, design(3, V1), project(milestone="SiteSurvey"))

    decision = apply(state, design(2, V2))

    assert decision.outcome == Outcome.SKIPPED_STALE
    assert state.ordered() == []


# ------------------------------------------------------------------ parked

def test_a_design_of_a_project_that_does_not_qualify_is_parked_then_applied_when_it_qualifies() -> None:
    state = StreamState.new(KEY)
    survey = project(milestone="SiteSurvey")

    decision = apply(state, design(1, V1, event_type="DesignApproved"), survey)

    assert decision.outcome == Outcome.PARKED
    assert decision.effects == [] and state.ordered() == []
    assert decision.stream is not None and decision.stream.parked is not None
    assert decision.stream.parked.design_version == 1
    assert "milestone SiteSurvey" in decision.reasons[0]
    (entry,) = decision.stream_audit
    assert (entry.action, entry.order_id) == ("design_parked", None)

    assert reevaluate_parked(state, survey, POLICY, AT, SYSTEM) is None  # still does not qualify

    later = reevaluate_parked(state, project(), POLICY, AT + timedelta(hours=1), SYSTEM)
    assert later is not None and later.outcome == Outcome.CREATED
    (effect,) = later.effects
    assert (effect.order.design_version, qty(effect.order)) == (1, V1)
    assert effect.audit.correlation_id == "evt-v1"
    assert later.stream is not None and later.stream.parked is None and later.stream.design_version == 1


@pytest.mark.parametrize("changes", [{"project_status": "OnHold"}, {"project_status": "Cancelled"},
                                     {"removed": True}], ids=str)
def test_a_blocked_or_removed_project_parks_the_design(changes: dict[str, Any]) -> None:
    state = StreamState.new(KEY)
    assert apply(state, design(1, V1), project(**changes)).outcome == Outcome.PARKED


def test_a_newer_parked_design_replaces_the_older_parked_one() -> None:
    state = StreamState.new(KEY)
    survey = project(milestone="SiteSurvey")
    apply(state, design(1, V1), survey)
    apply(state, design(2, V2), survey)

    later = reevaluate_parked(state, project(), POLICY, AT, SYSTEM)

    assert later is not None
    assert qty(later.effects[0].order) == V2


# ------------------------------------------------------------------- facts

def test_a_schedule_update_sets_need_by_on_open_orders_and_an_older_one_is_stale() -> None:
    state, order = first_order()
    need_by = date(2027, 1, 15)

    decision = apply(state, schedule("evt-s1", need_by, AT + timedelta(hours=2)))

    assert decision.outcome == Outcome.APPLIED
    (effect,) = decision.effects
    assert effect.order.need_by == need_by
    assert state.orders[order.order_id].need_by == need_by
    assert [(c.path, c.old, c.new) for c in effect.audit.changes] == [("need_by", None, "2027-01-15")]
    assert effect.outbox is None
    assert decision.stream is not None and decision.stream.need_by == need_by
    # The order's own entry tells the change; the stream adds no second line for it.
    assert effect.audit.action == "schedule_updated" and decision.stream_audit == []

    older = apply(state, schedule("evt-s0", date(2026, 12, 1), AT + timedelta(hours=1)))

    assert older.outcome == Outcome.SKIPPED_STALE
    assert older.effects == [] and older.stream is None
    assert state.orders[order.order_id].need_by == need_by
    assert older.stream_audit[0].action == "schedule_skipped_stale"


def test_a_schedule_update_leaves_delivered_orders_alone_and_reaches_later_orders() -> None:
    state, order = first_order()
    set_status(state, order, S.CLOSED)
    apply(state, schedule("evt-s1", date(2027, 1, 15), AT))

    assert state.orders[order.order_id].need_by is None
    sup = apply(state, design(2, {"ANT": 5}))
    assert sup.effects[0].order.need_by == date(2027, 1, 15)


def test_a_feasibility_update_is_recorded_on_the_stream() -> None:
    state, order = first_order()
    event = EngineeringEvent.model_validate({
        "event_id": "evt-f1", "event_type": "FeasibilityUpdated", "occurred_at": AT.isoformat(),
        "project_id": KEY.project_id, "site_code": KEY.site_code, "order_type": KEY.order_type,
        "feasible": False, "checks": [{"name": "power", "status": "failed", "detail": "needs 100 A"}]})

    decision = apply(state, event)

    assert decision.outcome == Outcome.APPLIED
    assert decision.effects == []
    assert decision.stream is not None
    assert decision.stream.feasible is False
    assert [c.name for c in decision.stream.checks] == ["power"]
    (entry,) = decision.stream_audit
    assert (entry.action, entry.order_id, entry.correlation_id) == ("feasibility_updated", order.order_id, "evt-f1")
    assert {c.path for c in entry.changes} == {"feasible", "checks"}


@pytest.mark.parametrize("source", list(LineSource), ids=str)
def test_a_lines_audit_json_is_its_json_dump(source: LineSource) -> None:
    line = OrderLine(line_no=2, sku="ANT", qty=4, uom="M", source=source)
    assert line.as_json() == line.model_dump(mode="json")
