"""Cosmos DB store guarantees beyond the shared contract, on the local
Cosmos server: one transactional batch per partition, ETag races, batches
larger than Cosmos DB's 100-operation limit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from common.domain.models import Actor, ActorType, AuditEntry, Marker, Order, OrderLine, OutboxEvent
from common.ports import CommitResult, ConflictKind, DocWrite, PartitionChanges
from tests.adapters.cosmos_factories import ScratchCosmosStore

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ACTOR = Actor(type=ActorType.SYSTEM, id="it")


def order(project: str = "PRJ-7", site: str = "S-1", qty: int = 1) -> Order:
    return Order(order_id=f"{project}~{site}~NewBuild~1", order_number=f"{site}-NB-001", project_id=project,
                 site_code=site, order_type="NewBuild", seq=1, lines=[OrderLine(line_no=1, sku="ANT", qty=qty)],
                 created_at=T0, updated_at=T0)


def effect(o: Order, n: int, event_id: str, expected: str | None = None) -> PartitionChanges:
    audit = AuditEntry(audit_id=f"{o.order_id}@{n}", order_id=o.order_id, project_id=o.project_id, at=T0,
                       actor=ACTOR, action="write", correlation_id=event_id)
    outbox = OutboxEvent(id=f"{o.order_id}@{n}", type="oms.order.created", subject=o.order_id,
                         project_id=o.project_id, time=T0, data={"n": n})
    marker = Marker(marker_id=f"mk~it~{event_id}", project_id=o.project_id, source="it", event_id=event_id,
                    outcome="created", at=T0)
    return PartitionChanges(partition=o.project_id, orders={o.order_id: DocWrite(o, expected)},
                            audit=[audit], outbox=[outbox], markers=[marker])


def test_a_batch_whose_marker_exists_changes_neither_order_nor_audit_nor_outbox(
        cosmos_store: ScratchCosmosStore) -> None:
    first = order()
    assert cosmos_store.commit([effect(first, 1, "evt-1")]).ok
    stored = cosmos_store.get_order(first.order_id)
    assert stored is not None

    # Same event again, now as an update: its marker exists, so nothing of it lands.
    changed = stored.model_copy(update={"lines": [OrderLine(line_no=1, sku="ANT", qty=9)], "version": 2})
    result = cosmos_store.commit([effect(changed, 2, "evt-1", expected=stored.etag)])

    assert result.conflicts == {first.project_id: ConflictKind.EXISTS}
    after = cosmos_store.get_order(first.order_id)
    assert after is not None and after.lines[0].qty == 1 and after.etag == stored.etag
    assert [a.audit_id for a in cosmos_store.order_audit(first.order_id)] == [f"{first.order_id}@1"]
    assert [e.id for e in cosmos_store.outbox_events(first.order_id)] == [f"{first.order_id}@1"]


def test_two_concurrent_updates_with_the_same_etag_exactly_one_wins(cosmos_store: ScratchCosmosStore) -> None:
    base = order()
    assert cosmos_store.commit([effect(base, 1, "evt-a")]).ok
    stored = cosmos_store.get_order(base.order_id)
    assert stored is not None
    results: list[CommitResult] = []
    barrier = threading.Barrier(2)

    def writer(qty: int) -> None:
        mine = stored.model_copy(update={"lines": [OrderLine(line_no=1, sku="ANT", qty=qty)], "version": 2})
        barrier.wait()
        results.append(cosmos_store.commit([effect(mine, 2 if qty == 5 else 3, f"evt-{qty}",
                                                   expected=stored.etag)]))

    threads = [threading.Thread(target=writer, args=(qty,)) for qty in (5, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.ok for r in results) == [False, True]
    loser = next(r for r in results if not r.ok)
    assert loser.conflicts == {base.project_id: ConflictKind.ETAG}
    winner_qty = cosmos_store.get_order(base.order_id).lines[0].qty  # type: ignore[union-attr]
    assert winner_qty in (5, 7)
    assert len(cosmos_store.order_audit(base.order_id)) == 2  # the first write and the winner's


def _merged(parts: list[PartitionChanges]) -> PartitionChanges:
    """Many events' changes of partition PRJ-7 as one commit."""
    merged = PartitionChanges(partition="PRJ-7")
    for part in parts:
        merged.orders.update(part.orders)
        merged.audit += part.audit
        merged.outbox += part.outbox
        merged.markers += part.markers
    return merged


def test_changes_over_100_operations_commit_whole_and_keep_each_event_together(
        cosmos_store: ScratchCosmosStore) -> None:
    parts = [effect(order(site=f"S-{i:03d}"), 1, f"evt-big-{i}") for i in range(40)]  # 40 x 4 = 160 operations
    merged = _merged(parts)
    assert merged.operation_count() == 160
    assert cosmos_store.commit([merged]).ok
    assert len(cosmos_store.get_orders([o for p in parts for o in p.orders])) == 40
    assert len(cosmos_store.outbox_events()) == 40
    assert len(cosmos_store.existing_markers([(m.project_id, m.marker_id) for p in parts for m in p.markers])) == 40


def test_after_a_commit_the_callers_documents_carry_the_stored_etags(cosmos_store: ScratchCosmosStore) -> None:
    fresh = order()
    cosmos_store.commit([effect(fresh, 1, "evt-e")])
    stored = cosmos_store.get_order(fresh.order_id)
    assert stored is not None and fresh.etag == stored.etag and fresh.etag


def test_changes_over_2_mb_in_one_partition_commit_whole_in_batches_under_the_request_limit(
        cosmos_store: ScratchCosmosStore) -> None:
    # 30 orders of 1,000 long lines each (about 150 KB per order document), 120
    # operations and 4.5 MB: beside the operation count, the size splits it.
    lines = [OrderLine(line_no=n, sku=f"SKU-{n:04d}-{'X' * 80}", qty=1) for n in range(1, 1001)]
    parts = [effect(order(site=f"S-{i:03d}").model_copy(update={"lines": lines}), 1, f"evt-mb-{i}")
             for i in range(30)]
    merged = _merged(parts)
    assert merged.operation_count() == 120

    assert cosmos_store.commit([merged]).ok
    stored = cosmos_store.get_orders([o for p in parts for o in p.orders])
    assert len(stored) == 30 and all(len(o.lines) == 1000 for o in stored.values())
