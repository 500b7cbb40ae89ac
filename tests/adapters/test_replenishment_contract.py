"""The store contract for replenishment (common/ports.py `Store`: reorder
policies and requests): every store adapter passes these unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.domain.models import Actor, ActorType
from common.domain.replenishment import Position, ReorderPolicy, RequestChange, decide, partition_of
from common.ports import ConflictKind, Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ACTOR = Actor(type=ActorType.SYSTEM, id="contract")


def policy(warehouse: str = "WH-1", sku: str = "ANT", point: int = 10, target: int = 30, lead: int = 7,
           **extra: object) -> ReorderPolicy:
    return ReorderPolicy(warehouse_id=warehouse, sku=sku, reorder_point=point, target_level=target,
                         lead_time_days=lead, updated_at=T0, **extra)


def opened(p: ReorderPolicy, on_hand: int = 4, seq: int = 1, at: datetime = T0) -> RequestChange:
    change = decide(p, Position(on_hand=on_hand, reserved=0, demand=0), None, next_seq=seq,
                    now=at, actor=ACTOR, trigger="test", correlation_id="corr-1")
    assert change is not None and change.kind == "opened"
    return change


def test_policies_read_back_as_put_by_warehouse_and_sku_with_extra_columns(store: Store) -> None:
    stored = [policy("WH-2", "B"), policy("WH-1", "B", supplier="ACME"), policy("WH-1", "A")]
    assert store.put_reorder_policies(stored) == 3

    assert [p.key for p in store.reorder_policies()] == [("WH-1", "A"), ("WH-1", "B"), ("WH-2", "B")]
    assert [p.key for p in store.reorder_policies("WH-1")] == [("WH-1", "A"), ("WH-1", "B")]
    assert store.reorder_policies("WH-1")[1] == stored[1]
    assert store.reorder_policies("WH-1")[1].model_extra == {"supplier": "ACME"}


def test_a_policy_put_again_replaces_it_and_a_removed_one_is_no_longer_listed(store: Store) -> None:
    store.put_reorder_policies([policy("WH-1", "A"), policy("WH-1", "B")])
    store.put_reorder_policies([policy("WH-1", "A", point=20, target=50),
                                policy("WH-1", "B").model_copy(update={"removed": True})])

    assert [(p.sku, p.reorder_point, p.target_level) for p in store.reorder_policies()] == [("A", 20, 50)]


def test_an_opened_request_is_written_with_its_audit_entry_and_its_outbox_event(store: Store) -> None:
    change = opened(policy())
    assert store.commit_replenishment(change) is None
    assert change.request.etag

    [request] = store.replenishment_requests()
    assert request == change.request and request.etag == change.request.etag
    assert request.quantity == 26 and request.status == "open"
    [entry] = store.order_audit(request.request_id)
    assert entry.action == "replenishment_requested" and entry.project_id == partition_of("WH-1")
    assert [a.audit_id for a in store.query_audit(partition_of("WH-1"), None, None).items] == [entry.audit_id]
    [event] = store.outbox_events(request.request_id)
    assert event.type == "oms.stock.replenishment_requested" and event.data["quantity"] == 26
    assert [e.id for e in store.pending_outbox()] == [event.id]


def test_requests_are_listed_by_warehouse_sku_and_status(store: Store) -> None:
    for p in (policy("WH-1", "A"), policy("WH-1", "B"), policy("WH-2", "A")):
        assert store.commit_replenishment(opened(p)) is None
    [b] = store.replenishment_requests(warehouse_id="WH-1", sku="B")
    closed = decide(policy("WH-1", "B"), Position(on_hand=40, reserved=0, demand=0), b, next_seq=2,
                    now=T0 + timedelta(days=3), actor=ACTOR, trigger="test", correlation_id="corr-2")
    assert closed is not None and store.commit_replenishment(closed) is None

    assert [(r.warehouse_id, r.sku) for r in store.replenishment_requests(status="open")] == [
        ("WH-1", "A"), ("WH-2", "A")]
    assert [(r.sku, r.status.value) for r in store.replenishment_requests(warehouse_id="WH-1")] == [
        ("A", "open"), ("B", "fulfilled")]
    [fulfilled] = store.replenishment_requests(status="fulfilled")
    assert fulfilled.duration_seconds == 3 * 86_400 and fulfilled.closed_at == T0 + timedelta(days=3)
    assert [e.type for e in store.outbox_events(fulfilled.request_id)] == [
        "oms.stock.replenishment_requested", "oms.stock.replenishment_fulfilled"]


def test_a_second_request_with_the_same_id_conflicts_and_writes_nothing(store: Store) -> None:
    assert store.commit_replenishment(opened(policy(), on_hand=4)) is None
    again = opened(policy(), on_hand=2)  # a concurrent evaluation deciding the same opening

    assert store.commit_replenishment(again) == ConflictKind.EXISTS
    [request] = store.replenishment_requests()
    assert request.quantity == 26
    assert len(store.order_audit(request.request_id)) == 1
    assert len(store.outbox_events(request.request_id)) == 1


def test_a_change_to_a_request_that_changed_since_it_was_read_conflicts_and_writes_nothing(store: Store) -> None:
    assert store.commit_replenishment(opened(policy())) is None
    [read] = store.replenishment_requests()
    first = decide(policy(), Position(on_hand=0, reserved=0, demand=0), read, next_seq=2,
                   now=T0 + timedelta(hours=1), actor=ACTOR, trigger="test", correlation_id="c-2")
    assert first is not None and store.commit_replenishment(first) is None
    stale = decide(policy(), Position(on_hand=0, reserved=0, demand=5), read, next_seq=2,
                   now=T0 + timedelta(hours=2), actor=ACTOR, trigger="test", correlation_id="c-3")
    assert stale is not None

    assert store.commit_replenishment(stale) == ConflictKind.ETAG
    [request] = store.replenishment_requests()
    assert request.quantity == 30 and request.version == 2
    assert [a.action for a in store.order_audit(request.request_id)] == [
        "replenishment_requested", "replenishment_quantity_raised"]


def test_request_events_are_marked_delivered_like_order_events(store: Store) -> None:
    change = opened(policy())
    assert store.commit_replenishment(change) is None

    store.mark_delivered([change.outbox.id], T0 + timedelta(minutes=1))

    assert store.pending_outbox() == []
    [event] = store.outbox_events(change.request.request_id)
    assert event.delivered_at is not None
