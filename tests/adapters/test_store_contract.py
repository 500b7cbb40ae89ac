"""The store contract (common/ports.py `Store`): every store adapter passes
these tests unchanged. Only the port is used here, never adapter internals."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest

from common.domain.models import (
    Actor,
    ActorType,
    AuditEntry,
    CatalogItem,
    JobRun,
    Marker,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    OutboxEvent,
    ParkedDesign,
    Project,
    QuarantineRecord,
    Reason,
    Stream,
)
from common.domain.serialized import Serialized
from common.ports import CommitResult, ConflictKind, DocWrite, OrderQuery, Page, PartitionChanges, Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ACTOR = Actor(type=ActorType.SYSTEM, id="contract")


def make_order(project_id: str = "PRJ-1", seq: int = 1, *, site: str = "S-1", status: OrderStatus = OrderStatus.DRAFT,
               kind: OrderKind = OrderKind.STANDARD, market: str | None = "Boston", at: datetime = T0,
               qty: int = 3) -> Order:
    return Order(order_id=f"{project_id}~{site}~NewBuild~{seq}", order_number=f"{site}-NB-{seq:03d}", kind=kind,
                 project_id=project_id, site_code=site, order_type="NewBuild", seq=seq, status=status,
                 market=market, lines=[OrderLine(line_no=1, sku="ANT", qty=qty)], created_at=at, updated_at=at)


def make_stream(project_id: str = "PRJ-1", site: str = "S-1", *, parked: bool = False) -> Stream:
    park = ParkedDesign(event_id=f"evt-{site}", design_version=1, items=[], reason="not qualifying",
                        parked_at=T0) if parked else None
    return Stream(stream_id=f"{project_id}~{site}~NewBuild", project_id=project_id, site_code=site,
                  order_type="NewBuild", parked=park)


def audit(order: Order, n: int, at: datetime, action: str = "edit") -> AuditEntry:
    return AuditEntry(audit_id=f"{order.order_id}@{n}", order_id=order.order_id, project_id=order.project_id,
                      at=at, actor=ACTOR, action=action)


def outbox(order: Order, n: int, at: datetime = T0) -> OutboxEvent:
    return OutboxEvent(id=f"{order.order_id}@{n}", type="oms.order.created", subject=order.order_id,
                       project_id=order.project_id, time=at, data={"n": n})


def marker(project_id: str, event_id: str) -> Marker:
    return Marker(marker_id=f"mk~test~{event_id}", project_id=project_id, source="test", event_id=event_id,
                  outcome="created", at=T0)


def create(store: Store, order: Order, n: int = 1, event_id: str | None = None) -> CommitResult:
    part = PartitionChanges(partition=order.project_id, orders={order.order_id: DocWrite(order, None)},
                            audit=[audit(order, n, order.updated_at, "create")], outbox=[outbox(order, n)],
                            markers=[marker(order.project_id, event_id)] if event_id else [])
    return store.commit([part])


def update(order: Order, expected: str | None, n: int, **extra: Any) -> PartitionChanges:
    return PartitionChanges(partition=order.project_id, orders={order.order_id: DocWrite(order, expected)},
                            audit=[audit(order, n, order.updated_at)], outbox=[outbox(order, n)], **extra)


def stored(store: Store, order_id: str) -> Order:
    found = store.get_order(order_id)
    assert found is not None
    return found


# ------------------------------------------------------------------ orders

def test_the_schema_can_be_ensured_again_and_the_store_answers(store: Store) -> None:
    store.ensure_schema()
    assert store.ping() is True


def test_a_created_order_reads_back_equal_with_an_etag(store: Store) -> None:
    order = make_order()
    assert create(store, order).ok

    found = stored(store, order.order_id)
    assert found.etag
    assert order.etag == found.etag  # the caller's copy carries the stored ETag
    assert found.model_dump(exclude={"etag"}) == order.model_dump(exclude={"etag"})
    assert store.get_order("PRJ-1~S-1~NewBuild~99") is None
    assert store.get_orders([order.order_id, "PRJ-1~nope~NewBuild~1", order.order_id]) == {order.order_id: found}


def test_an_update_with_the_etag_as_read_is_written_with_a_new_etag(store: Store) -> None:
    order = make_order()
    create(store, order)
    read = stored(store, order.order_id)
    changed = read.model_copy(update={"status": OrderStatus.APPROVED, "version": 2})

    assert store.commit([update(changed, read.etag, 2)]).ok

    after = stored(store, order.order_id)
    assert after.status == OrderStatus.APPROVED
    assert after.etag and after.etag != read.etag and after.etag == changed.etag
    assert [a.audit_id for a in store.order_audit(order.order_id)] == [f"{order.order_id}@1", f"{order.order_id}@2"]


def test_a_stale_etag_fails_its_partition_alone_and_writes_nothing_of_it(store: Store) -> None:
    mine, other = make_order("PRJ-1"), make_order("PRJ-2")
    create(store, mine)
    create(store, other)
    read = stored(store, mine.order_id)
    first = read.model_copy(update={"revision": 2})
    assert store.commit([update(first, read.etag, 2)]).ok  # a concurrent writer won
    other_read = stored(store, other.order_id)

    late = read.model_copy(update={"revision": 3, "status": OrderStatus.CANCELLED})
    other_change = other_read.model_copy(update={"revision": 2})
    result = store.commit([
        update(late, read.etag, 3, markers=[marker("PRJ-1", "evt-late")]),
        update(other_change, other_read.etag, 2),
    ])

    assert not result.ok
    assert result.conflicts == {"PRJ-1": ConflictKind.ETAG}
    after = stored(store, mine.order_id)
    assert (after.revision, after.status) == (2, OrderStatus.DRAFT)
    assert [a.audit_id for a in store.order_audit(mine.order_id)] == [f"{mine.order_id}@1", f"{mine.order_id}@2"]
    assert f"{mine.order_id}@3" not in {e.id for e in store.outbox_events()}
    assert store.existing_markers([("PRJ-1", "mk~test~evt-late")]) == set()
    assert stored(store, other.order_id).revision == 2  # the other partition is committed


def test_creating_an_order_that_exists_conflicts(store: Store) -> None:
    order = make_order()
    create(store, order)
    again = make_order(qty=9)

    result = store.commit([PartitionChanges(partition="PRJ-1", orders={again.order_id: DocWrite(again, None)})])

    assert result.conflicts == {"PRJ-1": ConflictKind.EXISTS}
    assert stored(store, order.order_id).lines[0].qty == 3


def test_a_partition_whose_marker_exists_writes_neither_order_nor_audit_nor_outbox(store: Store) -> None:
    create(store, make_order(seq=1), event_id="evt-1")
    replay = make_order(seq=2)
    other = make_order("PRJ-2")

    result = store.commit([
        PartitionChanges(partition="PRJ-1", orders={replay.order_id: DocWrite(replay, None)},
                         audit=[audit(replay, 1, T0)], outbox=[outbox(replay, 1)],
                         markers=[marker("PRJ-1", "evt-1")]),
        PartitionChanges(partition="PRJ-2", orders={other.order_id: DocWrite(other, None)},
                         audit=[audit(other, 1, T0)], outbox=[outbox(other, 1)], markers=[marker("PRJ-2", "evt-2")]),
    ])

    assert result.conflicts == {"PRJ-1": ConflictKind.EXISTS}
    assert store.get_order(replay.order_id) is None
    assert store.order_audit(replay.order_id) == []
    assert replay.order_id not in {e.subject for e in store.outbox_events()}
    assert store.get_order(other.order_id) is not None
    assert store.existing_markers([("PRJ-1", "mk~test~evt-1"), ("PRJ-2", "mk~test~evt-2"),
                                   ("PRJ-1", "mk~test~evt-3")]) == {"mk~test~evt-1", "mk~test~evt-2"}


def test_an_empty_commit_succeeds(store: Store) -> None:
    assert store.commit([]).ok
    assert store.commit([PartitionChanges(partition="PRJ-1")]).ok


# ----------------------------------------------------------------- streams

def test_streams_are_created_read_updated_by_etag_and_the_parked_ones_listed(store: Store) -> None:
    quiet, parked, elsewhere = make_stream(site="S-1"), make_stream(site="S-2", parked=True), make_stream(
        "PRJ-2", "S-3", parked=True)
    assert store.commit([
        PartitionChanges(partition="PRJ-1", streams={s.stream_id: DocWrite(s, None) for s in (quiet, parked)}),
        PartitionChanges(partition="PRJ-2", streams={elsewhere.stream_id: DocWrite(elsewhere, None)}),
    ]).ok

    found = store.get_streams([quiet.stream_id, parked.stream_id, "PRJ-1~missing~NewBuild"])
    assert set(found) == {quiet.stream_id, parked.stream_id}
    assert found[parked.stream_id].parked is not None and found[parked.stream_id].etag
    assert [s.stream_id for s in store.parked_streams(["PRJ-1"])] == [parked.stream_id]
    assert [s.stream_id for s in store.parked_streams(["PRJ-1", "PRJ-2", "PRJ-9"])] == sorted(
        [parked.stream_id, elsewhere.stream_id])
    assert all(s.etag for s in store.parked_streams(["PRJ-1"]))

    unparked = found[parked.stream_id].model_copy(update={"parked": None, "design_version": 1})
    assert store.commit([PartitionChanges(partition="PRJ-1", streams={
        parked.stream_id: DocWrite(unparked, found[parked.stream_id].etag)})]).ok
    assert store.parked_streams(["PRJ-1"]) == []
    assert store.get_streams([parked.stream_id])[parked.stream_id].design_version == 1

    stale = found[parked.stream_id].model_copy(update={"design_version": 7})
    result = store.commit([PartitionChanges(partition="PRJ-1", streams={
        parked.stream_id: DocWrite(stale, found[parked.stream_id].etag)})])
    assert result.conflicts == {"PRJ-1": ConflictKind.ETAG}
    assert store.get_streams([parked.stream_id])[parked.stream_id].design_version == 1


# ---------------------------------------------------------------- queries

def test_query_orders_filters_by_every_field(store: Store) -> None:
    orders = [
        make_order("PRJ-1", 1, site="S-1", market="Boston"),
        make_order("PRJ-1", 2, site="S-1", status=OrderStatus.APPROVED, market="Boston"),
        make_order("PRJ-1", 1, site="S-2", kind=OrderKind.DELTA, market="Dallas", at=T0 + timedelta(hours=2)),
        make_order("PRJ-2", 1, site="S-3", status=OrderStatus.APPROVED, market="Dallas", at=T0 + timedelta(hours=3)),
    ]
    for order in orders:
        create(store, order)

    def ids(**filters: Any) -> set[str]:
        return {o.order_id for o in store.query_orders(OrderQuery(**filters)).items}

    assert ids() == {o.order_id for o in orders}
    assert ids(status="Approved") == {orders[1].order_id, orders[3].order_id}
    assert ids(project_id="PRJ-1") == {o.order_id for o in orders[:3]}
    assert ids(site_code="S-2") == {orders[2].order_id}
    assert ids(market="Dallas") == {orders[2].order_id, orders[3].order_id}
    assert ids(kind="delta") == {orders[2].order_id}
    assert ids(updated_since=T0 + timedelta(hours=2)) == {orders[2].order_id, orders[3].order_id}
    assert ids(status="Approved", project_id="PRJ-1") == {orders[1].order_id}
    assert ids(status="Cancelled") == set()
    assert all(o.etag for o in store.query_orders(OrderQuery()).items)


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8])
def test_query_orders_pages_return_every_order_exactly_once(store: Store, limit: int) -> None:
    made = [make_order(f"PRJ-{p}", seq) for p in range(1, 4) for seq in range(1, 3)]
    made.append(make_order("PRJ-9", 1, status=OrderStatus.CLOSED))
    for order in made:
        create(store, order)

    seen: list[str] = []
    continuation: str | None = None
    for _ in range(20):
        page = store.query_orders(OrderQuery(limit=limit, continuation=continuation,
                                             status="Draft"))
        assert len(page.items) <= limit
        seen.extend(o.order_id for o in page.items)
        continuation = page.continuation
        if continuation is None:
            break
    assert sorted(seen) == sorted(o.order_id for o in made if o.status == OrderStatus.DRAFT)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("limit", [2, 7])
def test_query_order_docs_is_query_orders_as_json_page_by_page(store: Store, limit: int) -> None:
    for order in [make_order(f"PRJ-{p}", seq, status=OrderStatus.APPROVED if seq == 2 else OrderStatus.DRAFT)
                  for p in range(1, 4) for seq in range(1, 3)]:
        create(store, order)

    for query in (OrderQuery(limit=limit), OrderQuery(status="Draft", limit=limit)):
        continuation: str | None = None
        for _ in range(10):
            query.continuation = continuation
            orders, docs = store.query_orders(query), store.query_order_docs(query)
            assert [Order.model_validate(doc) for doc in docs.items] == orders.items  # etag included
            assert docs.continuation == orders.continuation
            continuation = orders.continuation
            if continuation is None:
                break


def test_an_orders_audit_trail_reads_oldest_first(store: Store) -> None:
    order = make_order()
    create(store, order)  # audit @1 at T0
    entries = [audit(order, 3, T0 + timedelta(minutes=30)), audit(order, 2, T0 + timedelta(minutes=10))]
    assert store.commit([PartitionChanges(partition="PRJ-1", audit=entries)]).ok
    other = make_order("PRJ-1", 2)
    create(store, other)

    trail = store.order_audit(order.order_id)

    assert [a.audit_id for a in trail] == [f"{order.order_id}@{n}" for n in (1, 2, 3)]
    assert store.order_audit("PRJ-1~S-1~NewBuild~77") == []


def test_audit_is_queried_by_project_and_half_open_time_range(store: Store) -> None:
    a, b = make_order("PRJ-1"), make_order("PRJ-2")
    store.commit([
        PartitionChanges(partition="PRJ-1", audit=[audit(a, n, T0 + timedelta(hours=n)) for n in range(4)]),
        PartitionChanges(partition="PRJ-2", audit=[audit(b, n, T0 + timedelta(hours=n)) for n in range(4)]),
    ])

    def ids(project: str | None, since: datetime | None, until: datetime | None) -> list[str]:
        return [e.audit_id for e in store.query_audit(project, since, until).items]

    assert ids("PRJ-1", None, None) == [f"{a.order_id}@{n}" for n in range(4)]
    assert ids("PRJ-1", T0 + timedelta(hours=1), T0 + timedelta(hours=3)) == [f"{a.order_id}@{n}" for n in (1, 2)]
    assert sorted(ids(None, T0 + timedelta(hours=3), None)) == sorted([f"{a.order_id}@3", f"{b.order_id}@3"])
    assert ids("PRJ-3", None, None) == []
    assert len(store.query_audit(None, None, None, limit=5).items) == 5


def test_audit_time_ranges_compare_instants_not_time_zone_spellings(store: Store) -> None:
    a = make_order()
    store.commit([PartitionChanges(partition="PRJ-1", audit=[audit(a, n, T0 + timedelta(hours=n)) for n in range(3)])])
    plus_two = timezone(timedelta(hours=2))

    since = (T0 + timedelta(hours=1)).astimezone(plus_two)  # 11:00+02:00 is 09:00Z
    found = store.query_audit("PRJ-1", since, None).items

    assert [e.audit_id for e in found] == [f"{a.order_id}@1", f"{a.order_id}@2"]


# ----------------------------------------------------------------- outbox

def test_pending_outbox_lists_events_in_write_order_until_marked_delivered(store: Store) -> None:
    orders = [make_order("PRJ-3"), make_order("PRJ-1"), make_order("PRJ-2")]
    for order in orders:
        create(store, order)
    store.commit([PartitionChanges(partition="PRJ-1", outbox=[outbox(orders[1], 2), outbox(orders[1], 3)])])

    pending = [e.id for e in store.pending_outbox()]
    assert pending == [f"{orders[0].order_id}@1", f"{orders[1].order_id}@1", f"{orders[2].order_id}@1",
                       f"{orders[1].order_id}@2", f"{orders[1].order_id}@3"]
    assert [e.id for e in store.pending_outbox(limit=2)] == pending[:2]

    delivered_at = T0 + timedelta(minutes=5)
    store.mark_delivered(pending[:2], delivered_at)
    store.mark_delivered(pending[:1], delivered_at + timedelta(hours=1))  # at-least-once: a second mark is harmless

    assert [e.id for e in store.pending_outbox()] == pending[2:]
    mine = store.outbox_events(orders[1].order_id)
    assert [e.id for e in mine] == [pending[1], pending[3], pending[4]]
    assert mine[0].delivered_at == delivered_at and mine[1].delivered_at is None
    assert store.outbox_events(orders[0].order_id)[0].delivered_at == delivered_at
    assert len(store.outbox_events()) == 5


def test_stale_outbox_lists_undelivered_events_older_than_a_time_in_commit_order(store: Store) -> None:
    a, b = make_order("PRJ-A"), make_order("PRJ-B")
    store.commit([PartitionChanges(partition="PRJ-A", orders={a.order_id: DocWrite(a, None)},
                                   outbox=[outbox(a, 1, T0), outbox(a, 2, T0 + timedelta(minutes=1))])])
    store.commit([PartitionChanges(partition="PRJ-B", orders={b.order_id: DocWrite(b, None)},
                                   outbox=[outbox(b, 1, T0)])])
    store.commit([PartitionChanges(partition="PRJ-A", outbox=[outbox(a, 3, T0 + timedelta(minutes=2)),
                                                              outbox(a, 4, T0 + timedelta(hours=1))])])
    store.mark_delivered([f"{a.order_id}@2"], T0 + timedelta(minutes=3))

    stale = store.stale_outbox(T0 + timedelta(minutes=30))

    by_project: dict[str, list[str]] = {}
    for event in stale:
        by_project.setdefault(event.project_id, []).append(event.id)
    assert by_project == {"PRJ-A": [f"{a.order_id}@1", f"{a.order_id}@3"], "PRJ-B": [f"{b.order_id}@1"]}
    store.mark_delivered([e.id for e in stale], T0 + timedelta(minutes=31))
    assert store.stale_outbox(T0 + timedelta(minutes=30)) == []
    assert [e.id for e in store.stale_outbox(T0 + timedelta(days=1))] == [f"{a.order_id}@4"]


def test_keys_with_characters_a_document_id_cannot_hold_round_trip(store: Store) -> None:
    odd = ["ANT/65#A?%", "RRU\\B41 160W", "CBL+HYB&30m", "ÄNT-ß"]
    store.put_catalog(CatalogItem(sku=sku, description=f"odd {n}") for n, sku in enumerate(odd))
    store.put_catalog([CatalogItem(sku="ANT/65#A?%", description="renamed")])

    found = store.get_catalog([*odd, "ANT%2F65%23A%3F%25"])

    assert sorted(found) == sorted(odd)
    assert found["ANT/65#A?%"].description == "renamed"
    assert store.get_catalog(["ANT/65#A?%"])["ANT/65#A?%"].description == "renamed"


# ------------------------------------------------------------ master data

def test_projects_are_upserted_read_and_listed_by_page(store: Store) -> None:
    projects = [Project(project_id=f"PRJ-{n}", project_status="Active", milestone="ConceptApproved",
                        national_priority=n, extra_column=f"x{n}") for n in range(1, 6)]
    assert store.put_projects(projects) == 5
    assert store.put_projects([projects[0].model_copy(update={"milestone": "SiteSurvey"})]) == 1

    found = store.get_projects(["PRJ-1", "PRJ-3", "PRJ-99"])
    assert set(found) == {"PRJ-1", "PRJ-3"}
    assert found["PRJ-1"].milestone == "SiteSurvey"
    assert found["PRJ-3"].model_dump() == projects[2].model_dump()  # extra columns kept

    seen: list[str] = []
    continuation: str | None = None
    for _ in range(10):
        page = store.list_projects(limit=2, continuation=continuation)
        seen.extend(p.project_id for p in page.items)
        continuation = page.continuation
        if continuation is None:
            break
    assert sorted(seen) == [f"PRJ-{n}" for n in range(1, 6)]


def test_catalogue_items_are_upserted_and_read(store: Store) -> None:
    assert store.put_catalog([CatalogItem(sku="ANT", description="antenna"), CatalogItem(sku="OLD", active=False)]) == 2
    store.put_catalog([CatalogItem(sku="ANT", description="antenna v2")])

    found = store.get_catalog(["ANT", "OLD", "NONE"])
    assert set(found) == {"ANT", "OLD"}
    assert (found["ANT"].description, found["OLD"].active) == ("antenna v2", False)
    assert store.get_catalog([]) == {}


def test_projects_and_items_held_serialized_are_written_as_they_are_and_read_back_as_models(store: Store) -> None:
    projects = [Project(project_id=f"PRJ-S{n}", project_status="Active", milestone="Built", latitude=40.5 + n,
                        updated_at=T0, extra_column=f"x{n}") for n in range(3)]
    bulk = Serialized(Project, [p.project_id for p in projects], [p.model_dump_json() for p in projects])
    assert store.put_projects(bulk) == 3
    found = store.get_projects([p.project_id for p in projects])
    assert [found[p.project_id].model_dump() for p in projects] == [p.model_dump() for p in projects]

    items = [CatalogItem(sku="BULK-1", description='say "hi"'), CatalogItem(sku="BULK-2", active=False)]
    assert store.put_catalog(Serialized(CatalogItem, [i.sku for i in items], [i.model_dump_json() for i in items])) == 2
    assert store.get_catalog(["BULK-1", "BULK-2"]) == {i.sku: i for i in items}


# ------------------------------------------------------ jobs, quarantine

def test_job_runs_are_put_again_as_they_progress_and_listed_newest_first(store: Store) -> None:
    runs = [JobRun(job_id=f"job-{n}", job="ingest", started_at=T0 + timedelta(minutes=n)) for n in range(3)]
    for run in runs:
        store.put_job(run)
    done = runs[1].model_copy(update={"status": "succeeded", "ended_at": T0 + timedelta(hours=1),
                                      "counts": {"created": 4}})
    store.put_job(done)

    assert store.get_job("job-1") == done
    assert store.get_job("job-9") is None
    assert [j.job_id for j in store.list_jobs()] == ["job-2", "job-1", "job-0"]
    assert [j.job_id for j in store.list_jobs(limit=2)] == ["job-2", "job-1"]


def test_running_jobs_are_the_runs_still_running_oldest_first_however_many_finished_runs_are_newer(
        store: Store) -> None:
    for n in range(30):
        run = JobRun(job_id=f"job-{n:02d}", job="ingest", started_at=T0 + timedelta(minutes=n))
        store.put_job(run if n in (3, 17) else run.model_copy(update={"status": "succeeded", "ended_at": T0}))
    assert [j.job_id for j in store.running_jobs()] == ["job-03", "job-17"]
    assert [j.job_id for j in store.running_jobs(limit=1)] == ["job-03"]
    assert "job-03" not in [j.job_id for j in store.list_jobs(limit=20)]  # what the sweep used to read

    store.put_job(store.running_jobs()[0].model_copy(update={"status": "failed", "ended_at": T0}))
    assert [j.job_id for j in store.running_jobs()] == ["job-17"]


def test_the_same_quarantined_input_twice_is_one_record_with_two_attempts(store: Store) -> None:
    record = QuarantineRecord(id="q-1", source="engineering-events", received_at=T0,
                              reasons=[Reason(loc=["items", 0, "qty"], msg="must be > 0", type="greater_than")],
                              payload={"event_id": "e-1"}, event_id="e-1")
    first = store.put_quarantine(record)
    second = store.put_quarantine(record.model_copy(update={"received_at": T0 + timedelta(hours=1)}))

    assert (first.attempts, second.attempts) == (1, 2)
    found = store.get_quarantine("q-1")
    assert found is not None and found.attempts == 2 and found.received_at == T0
    assert found.reasons == record.reasons and found.payload == {"event_id": "e-1"}
    assert [r.id for r in store.list_quarantine().items] == ["q-1"]
    assert store.get_quarantine("q-404") is None


def test_quarantine_is_listed_by_status(store: Store) -> None:
    for n in range(3):
        store.put_quarantine(QuarantineRecord(id=f"q-{n}", source="s", received_at=T0 + timedelta(minutes=n),
                                              reasons=[Reason(msg="bad")], payload=n))
    done = store.get_quarantine("q-1")
    assert done is not None
    store.put_quarantine(done.model_copy(update={"status": "reprocessed"}))

    assert sorted(r.id for r in store.list_quarantine("open").items) == ["q-0", "q-2"]
    assert [r.id for r in store.list_quarantine("reprocessed").items] == ["q-1"]
    assert [r.id for r in store.list_quarantine().items] == ["q-2", "q-1", "q-0"]  # newest first
    assert len(store.list_quarantine(limit=1).items) == 1


# ----------------------------------------------------------------- paging

P = TypeVar("P")
PAGE_SIZES = (1, 2, 5, 7, 23, 50)


def read_pages(fetch: Callable[[int, str | None], Page[P]], size: int) -> list[list[P]]:
    """Every page of a list, following the continuation; fails on a loop."""
    pages: list[list[P]] = []
    continuation: str | None = None
    for _ in range(200):
        page = fetch(size, continuation)
        pages.append(page.items)
        continuation = page.continuation
        if continuation is None:
            return pages
    raise AssertionError("the continuation never ended")


def assert_paged(pages: list[list[P]], expected: list[P], size: int) -> None:
    assert [item for page in pages for item in page] == expected  # each once, in order
    assert all(len(page) == size for page in pages[:-1])
    assert len(pages[-1]) == (len(expected) - 1) % size + 1 if expected else pages == [[]]  # no empty last page


def audit_history(store: Store, count: int = 23) -> list[AuditEntry]:
    """Entries over three projects, written one commit at a time, with times
    out of write order and several entries sharing a time; returned in the
    order the store must list them (time, then write order)."""
    orders = [make_order(f"PRJ-{p}") for p in range(3)]
    written = []
    for k in range(count):
        entry = audit(orders[k % 3], k, T0 + timedelta(minutes=(k * 7) % 5))
        assert store.commit([PartitionChanges(partition=entry.project_id, audit=[entry])]).ok
        written.append(entry)
    return sorted(written, key=lambda e: e.at)  # stable: ties keep write order


def test_audit_pages_list_every_entry_once_oldest_first_whatever_the_page_size(store: Store) -> None:
    history = audit_history(store)
    windows: list[tuple[str | None, datetime | None, datetime | None]] = [
        (None, None, None), ("PRJ-1", None, None),
        (None, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3)), ("PRJ-2", T0 + timedelta(minutes=2), None),
        (None, T0 + timedelta(hours=1), None)]

    for project, since, until in windows:
        expected = [e.audit_id for e in history if (project is None or e.project_id == project)
                    and (since is None or e.at >= since) and (until is None or e.at < until)]
        for size in PAGE_SIZES:
            pages = read_pages(lambda n, token, p=project, a=since, b=until:
                               store.query_audit(p, a, b, limit=n, continuation=token), size)
            assert_paged([[e.audit_id for e in page] for page in pages], expected, size)


def test_audit_entries_written_while_a_client_pages_neither_repeat_nor_hide_earlier_ones(store: Store) -> None:
    history = audit_history(store, 12)
    first = store.query_audit(None, None, None, limit=5)
    late = make_order("PRJ-9")
    # One entry sorts before the cursor, one after it.
    store.commit([PartitionChanges(partition="PRJ-9", audit=[audit(late, 1, T0 - timedelta(days=1)),
                                                             audit(late, 2, T0 + timedelta(days=1))])])

    rest = read_pages(lambda n, token: store.query_audit(None, None, None, limit=n, continuation=token
                                                         or first.continuation), 4)

    seen = [e.audit_id for e in first.items] + [e.audit_id for page in rest for e in page]
    assert seen == [e.audit_id for e in history] + [f"{late.order_id}@2"]


def test_quarantine_pages_list_every_record_once_newest_first_whatever_the_page_size(store: Store) -> None:
    records = []
    for n in range(19):
        record = QuarantineRecord(id=f"q-{(n * 7) % 19:02d}", source="s", received_at=T0 + timedelta(minutes=n % 4),
                                  reasons=[Reason(msg="bad")], payload=n)
        records.append(store.put_quarantine(record))
    for record in records[::3]:
        store.put_quarantine(record.model_copy(update={"status": "reprocessed"}))
    newest_first = sorted(records, key=lambda r: r.id)
    newest_first.sort(key=lambda r: r.received_at, reverse=True)
    reprocessed = {r.id for r in records[::3]}

    for status in (None, "open", "reprocessed", "discarded"):
        expected = [r.id for r in newest_first
                    if status in (None, "reprocessed" if r.id in reprocessed else "open")]
        for size in PAGE_SIZES:
            pages = read_pages(lambda n, token, s=status:
                               store.list_quarantine(s, limit=n, continuation=token), size)
            assert_paged([[r.id for r in page] for page in pages], expected, size)


def test_quarantine_records_arriving_while_a_client_pages_neither_repeat_nor_hide_earlier_ones(store: Store) -> None:
    for n in range(9):
        store.put_quarantine(QuarantineRecord(id=f"q-{n}", source="s", received_at=T0 + timedelta(minutes=n),
                                              reasons=[Reason(msg="bad")], payload=n))
    first = store.list_quarantine(limit=4)
    store.put_quarantine(QuarantineRecord(id="q-new", source="s", received_at=T0 + timedelta(days=1),
                                          reasons=[Reason(msg="bad")], payload="new"))

    rest = read_pages(lambda n, token: store.list_quarantine(limit=n, continuation=token or first.continuation), 2)

    seen = [r.id for r in first.items] + [r.id for page in rest for r in page]
    assert seen == [f"q-{n}" for n in range(8, -1, -1)]


def test_a_continuation_token_the_store_did_not_hand_out_for_that_list_is_refused(store: Store) -> None:
    audit_history(store, 4)
    for n in range(3):
        store.put_quarantine(QuarantineRecord(id=f"q-{n}", source="s", received_at=T0, reasons=[Reason(msg="bad")],
                                              payload=n))
    for n in range(3):
        create(store, make_order("PRJ-1", n + 1))
    audit_token = store.query_audit(None, None, None, limit=1).continuation
    quarantine_token = store.list_quarantine(limit=1).continuation
    orders_token = store.query_orders(OrderQuery(limit=1)).continuation
    assert audit_token and quarantine_token and orders_token
    forged = base64.urlsafe_b64encode(b'{"audit": 7}').decode()
    for token in ("not-a-token", "e30=", forged, audit_token + "x", quarantine_token, orders_token):
        with pytest.raises(ValueError):
            store.query_audit(None, None, None, limit=1, continuation=token)
    for token in ("not-a-token", "e30=", forged, quarantine_token + "x", audit_token, orders_token):
        with pytest.raises(ValueError):
            store.list_quarantine(limit=1, continuation=token)
