"""Engineering events through the real handler on the SQLite store: the first
acceptance criterion of issue 2 (a batch mixing new designs, redeliveries, a
stale version, revisions of Draft and Approved orders and malformed events),
its replay, and a store that fails at commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import pytest

from common.domain.effects import evolve, record
from common.domain.events import OrderEventType
from common.domain.models import SYSTEM, Order, OrderStatus, QuarantineRecord
from common.ports import OrderQuery, Store
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents, Undecodable
from common.service.handlers.engineering import IngestReport, ingest_engineering_events
from common.service.unit_of_work import UnitOfWork
from tests.helpers.outages import commit_fails
from tests.helpers.warehouse import design_event

S = OrderStatus
NYC = ("PRJ-0000101", "NYC-00417", "NewBuild")
BOS = ("PRJ-0000102", "BOS-00112", "Upgrade")
DAL = ("PRJ-0000104", "DAL-00555", "NewBuild")
DAL_UP = ("PRJ-0000104", "DAL-00555", "Upgrade")
CHI = ("PRJ-0000103", "CHI-00987", "NewBuild")  # milestone SiteSurvey: does not qualify


def oid(stream: tuple[str, str, str], seq: int = 1) -> str:
    return "~".join((*stream, str(seq)))


def design(event_id: str, stream: tuple[str, str, str], version: int, items: dict[str, int],
           event_type: str = "DesignRevised", occurred_at: str = "2026-11-20T08:00:00Z") -> dict[str, Any]:
    project_id, site_code, order_type = stream
    return design_event(event_id, version, items, project_id, site_code, order_type=order_type, kind=event_type,
                        at=occurred_at)


E1 = design("evt-1", NYC, 1, {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}, "DesignApproved")
E2 = design("evt-2", BOS, 1, {"BBU-5G-SA": 1, "ANT-4T4R-B41": 2}, "DesignApproved")
E3 = design("evt-3", DAL, 2, {"ANT-4T4R-B41": 6, "MNT-PIPE-2M": 6}, "DesignApproved")
FIRST = [E1, E2, E3]

E4 = design("evt-4", NYC, 2, {"ANT-4T4R-B41": 4, "RRU-B41-160W": 3, "MNT-PIPE-2M": 2})
E5 = design("evt-5", BOS, 2, {"BBU-5G-SA": 1, "ANT-4T4R-B41": 4})
E6 = design("evt-6", DAL, 1, {"ANT-4T4R-B41": 3}, "DesignApproved", "2026-11-19T08:00:00Z")
E7 = design("evt-7", DAL_UP, 1, {"ANT-4T4R-B41": 1}, "DesignApproved")
E8 = design("evt-8", DAL, 3, {"MNT-PIPE-2M": 6, "ANT-4T4R-B41": 6})
E9 = design("evt-9", CHI, 1, {"ANT-4T4R-B41": 3}, "DesignApproved")
BAD_SCHEMA = {"event_id": "bad-schema", "event_type": "DesignApproved", "project_id": "PRJ-0000101"}
BAD_PROJECT = design("bad-project", ("PRJ-9999999", "XXX-00001", "NewBuild"), 1, {"ANT-4T4R-B41": 1})
BAD_SKUS = design("bad-skus", DAL_UP, 2, {"NOT-A-SKU": 1, "PSU-48V-OLD": 2})
BAD_QTY = design("bad-qty", NYC, 3, {"ANT-4T4R-B41": 0, "RRU-B41-160W": -2})
BAD_TYPE = {**design("bad-type", NYC, 4, {"ANT-4T4R-B41": 1}), "event_type": "DesignExploded"}
NOT_AN_OBJECT: list[int] = [1, 2]
NOT_JSON = Undecodable(text="{this is not json", error="Expecting property name enclosed in double quotes")

MIXED: list[Any] = [
    E1,  # redelivered from the first batch
    E4,  # revises the Draft NYC order
    BAD_SCHEMA,
    E5,  # revises the Approved BOS order
    E6,  # an older DAL design after the newer one
    BAD_PROJECT,
    E7,  # a new stream
    E8,  # the DAL design again under a newer version: unchanged content
    BAD_SKUS,
    E9,  # parked: its project does not qualify
    BAD_QTY,
    NOT_JSON,
    E4,  # redelivered inside the same batch
    BAD_TYPE,
    NOT_AN_OBJECT,
]

# Expected quarantine: event_id (or None) -> [(loc, type)]
EXPECTED_REASONS: dict[str | None, list[tuple[list[str | int], str]]] = {
    "bad-schema": [(["occurred_at"], "missing"), (["site_code"], "missing"), (["order_type"], "missing"),
                   (["design_version"], "missing"), (["items"], "missing")],
    "bad-project": [(["project_id"], "unknown_project")],
    "bad-skus": [(["items", 0, "sku"], "unknown_sku"), (["items", 1, "sku"], "inactive_sku")],
    "bad-qty": [(["items", 0, "qty"], "greater_than"), (["items", 1, "qty"], "greater_than")],
    "bad-type": [(["event_type"], "enum")],
}
VALID_IN_MIXED = 8  # every entry of MIXED that passes validation (duplicates included)
QUARANTINED_IN_MIXED = 7


def ingest(deps: Deps, events: Sequence[Any]) -> IngestReport:
    return ingest_engineering_events(deps, IngestEngineeringEvents(list(events), channel="file"))


def approve(deps: Deps, order_id: str) -> Order:
    """What the review API does on approval: one atomic write with audit and outbox."""
    uow = UnitOfWork(deps.store, deps.inventory)
    order = uow.order(order_id)
    assert order is not None
    at = deps.clock.now()
    approved = evolve(order, at, status=S.APPROVED, approved_at=at, approved_by="approver-1")
    uow.add(record(order, approved, action="approve", actor=SYSTEM, at=at, event=OrderEventType.APPROVED))
    assert uow.commit().ok
    stored = deps.store.get_order(order_id)
    assert stored is not None
    return stored


def all_orders(store: Store) -> dict[str, Order]:
    return {o.order_id: o for o in store.query_orders(OrderQuery(limit=1000)).items}


def reasons_of(record_: QuarantineRecord) -> list[tuple[list[str | int], str | None]]:
    return [(r.loc, r.type) for r in record_.reasons]


def quarantine_by_event(store: Store) -> dict[str | None, list[QuarantineRecord]]:
    out: dict[str | None, list[QuarantineRecord]] = {}
    for rec in store.list_quarantine(limit=1000).items:
        out.setdefault(rec.event_id, []).append(rec)
    return out


@pytest.fixture
def after_mixed(seeded: Deps) -> tuple[Deps, IngestReport]:
    first = ingest(seeded, FIRST)
    assert first.counts["created"] == 3
    approve(seeded, oid(BOS))
    return seeded, ingest(seeded, MIXED)


def test_the_first_designs_create_one_draft_order_each(seeded: Deps) -> None:
    report = ingest(seeded, FIRST)

    assert [(r.event_id, r.outcome.value, r.order_id) for r in report.results] == [
        ("evt-1", "created", oid(NYC)), ("evt-2", "created", oid(BOS)), ("evt-3", "created", oid(DAL))]
    orders = all_orders(seeded.store)
    assert {o.order_id: (o.status, o.revision, o.design_version) for o in orders.values()} == {
        oid(NYC): (S.DRAFT, 1, 1), oid(BOS): (S.DRAFT, 1, 1), oid(DAL): (S.DRAFT, 1, 2)}


def test_a_mixed_batch_yields_exactly_the_outcomes_of_the_delta_rules(after_mixed: tuple[Deps, IngestReport]) -> None:
    deps, report = after_mixed

    assert [(r.event_id, r.outcome.value, r.order_id) for r in report.results] == [
        ("evt-1", "skipped_duplicate", None),
        ("evt-4", "revised", oid(NYC)),
        ("bad-schema", "quarantined", None),
        ("evt-5", "revised", oid(BOS)),
        ("evt-6", "skipped_stale", oid(DAL)),
        ("bad-project", "quarantined", None),
        ("evt-7", "created", oid(DAL_UP)),
        ("evt-8", "skipped_unchanged", oid(DAL)),
        ("bad-skus", "quarantined", None),
        ("evt-9", "parked", None),
        ("bad-qty", "quarantined", None),
        (None, "quarantined", None),
        ("evt-4", "skipped_duplicate", None),
        ("bad-type", "quarantined", None),
        (None, "quarantined", None),
    ]
    job = deps.store.get_job(report.job.job_id)
    assert job is not None and job.status == "succeeded" and job.ended_at is not None
    assert job.counts == {
        "received": len(MIXED), "created": 1, "modified": 2, "skipped": 4, "skipped_duplicate": 2,
        "skipped_stale": 1, "skipped_unchanged": 1, "parked": 1, "quarantined": QUARANTINED_IN_MIXED, "failed": 0}


def test_a_mixed_batch_leaves_exactly_the_expected_orders(after_mixed: tuple[Deps, IngestReport]) -> None:
    deps, _ = after_mixed
    orders = all_orders(deps.store)

    assert {o.order_id: (o.kind.value, o.status, o.revision, o.design_version, o.quantities())
            for o in orders.values()} == {
        oid(NYC): ("standard", S.DRAFT, 2, 2, {"ANT-4T4R-B41": 4, "RRU-B41-160W": 3, "MNT-PIPE-2M": 2}),
        oid(BOS): ("standard", S.DRAFT, 2, 2, {"BBU-5G-SA": 1, "ANT-4T4R-B41": 4}),
        oid(DAL): ("standard", S.DRAFT, 1, 2, {"ANT-4T4R-B41": 6, "MNT-PIPE-2M": 6}),
        oid(DAL_UP): ("standard", S.DRAFT, 1, 1, {"ANT-4T4R-B41": 1}),
    }
    bos = orders[oid(BOS)]
    assert (bos.approved_at, bos.approved_by) == (None, None)
    chi = deps.store.get_streams(["~".join(CHI)])["~".join(CHI)]
    assert chi.order_ids == [] and chi.parked is not None and chi.parked.design_version == 1
    assert "SiteSurvey" in chi.parked.reason
    dal = deps.store.get_streams(["~".join(DAL)])["~".join(DAL)]
    assert dal.design_version == 3  # the unchanged design is still the newest one known


def test_a_mixed_batch_audits_each_mutation_with_only_what_changed(after_mixed: tuple[Deps, IngestReport]) -> None:
    deps, _ = after_mixed
    store = deps.store

    nyc = store.order_audit(oid(NYC))
    assert [(a.action, a.from_status, a.to_status, a.correlation_id) for a in nyc] == [
        ("create", None, S.DRAFT, "evt-1"), ("revise", S.DRAFT, S.DRAFT, "evt-4")]
    assert {c.path for c in nyc[1].changes} == {
        "revision", "design_version", "lines[ANT-4T4R-B41].qty", "lines[CBL-HYB-30M]", "lines[MNT-PIPE-2M]"}

    bos = store.order_audit(oid(BOS))
    assert [(a.action, a.from_status, a.to_status) for a in bos] == [
        ("create", None, S.DRAFT), ("approve", S.DRAFT, S.APPROVED), ("revise", S.APPROVED, S.DRAFT)]
    assert {c.path for c in bos[2].changes} == {"status", "revision", "design_version", "lines[ANT-4T4R-B41].qty"}

    dal = store.order_audit(oid(DAL))
    assert [(a.action, a.correlation_id, a.stream_id) for a in dal] == [
        ("create", "evt-3", None), ("design_skipped_stale", "evt-6", "~".join(DAL))]
    assert dal[1].reason == "design version 1 is not newer than version 2"

    assert [a.action for a in store.order_audit(oid(DAL_UP))] == ["create"]
    chi = list(store.query_audit("PRJ-0000103", None, None).items)
    assert [(a.action, a.order_id, a.correlation_id) for a in chi] == [("design_parked", None, "evt-9")]
    assert len(store.query_audit(None, None, None).items) == 9


def test_a_mixed_batch_writes_one_outbox_event_per_order_change(after_mixed: tuple[Deps, IngestReport]) -> None:
    deps, _ = after_mixed
    assert [(e.subject, e.type, e.data["revision"]) for e in deps.store.outbox_events()] == [
        (oid(NYC), "oms.order.created", 1),
        (oid(BOS), "oms.order.created", 1),
        (oid(DAL), "oms.order.created", 1),
        (oid(BOS), "oms.order.approved", 1),
        (oid(NYC), "oms.order.revised", 2),
        (oid(BOS), "oms.order.revised", 2),
        (oid(DAL_UP), "oms.order.created", 1),
    ]


def test_every_malformed_event_is_quarantined_with_every_reason(after_mixed: tuple[Deps, IngestReport]) -> None:
    deps, report = after_mixed
    by_event = quarantine_by_event(deps.store)

    assert set(by_event) == {*EXPECTED_REASONS, None}
    for event_id, expected in EXPECTED_REASONS.items():
        (rec,) = by_event[event_id]
        assert reasons_of(rec) == expected, event_id
        assert (rec.status, rec.attempts, rec.source, rec.job_id) == (
            "open", 1, "engineering-events", report.job.job_id)
    assert by_event["bad-skus"][0].project_id == "PRJ-0000104"
    assert by_event["bad-project"][0].payload == BAD_PROJECT
    unnamed = {repr(r.payload): reasons_of(r) for r in by_event[None]}
    assert unnamed == {repr(NOT_JSON.text): [([], "json_invalid")], repr(NOT_AN_OBJECT): [([], "model_type")]}


def test_replaying_the_batch_changes_nothing_and_skips_every_valid_event_as_duplicate(
        after_mixed: tuple[Deps, IngestReport]) -> None:
    deps, _ = after_mixed
    store = deps.store
    orders = all_orders(store)
    audit = store.query_audit(None, None, None).items
    outbox = store.outbox_events()

    again = ingest(deps, MIXED)

    assert again.counts == {
        "received": len(MIXED), "created": 0, "modified": 0, "skipped": VALID_IN_MIXED,
        "skipped_duplicate": VALID_IN_MIXED, "parked": 0, "quarantined": QUARANTINED_IN_MIXED, "failed": 0}
    assert all_orders(store) == orders  # same documents, same ETags
    assert store.query_audit(None, None, None).items == audit
    assert store.outbox_events() == outbox
    records = store.list_quarantine(limit=1000).items
    assert len(records) == QUARANTINED_IN_MIXED
    assert {r.attempts for r in records} == {2}


def test_a_store_that_fails_at_commit_leaves_every_event_in_quarantine_and_the_job_failed(seeded: Deps) -> None:
    deps = commit_fails(seeded)
    batch = [E1, E2, BAD_PROJECT, E3]

    with pytest.raises(sqlite3.OperationalError):
        ingest(deps, batch)

    store = seeded.store
    assert all_orders(store) == {}
    by_event = quarantine_by_event(store)
    assert set(by_event) == {"evt-1", "evt-2", "evt-3", "bad-project"}
    for event_id in ("evt-1", "evt-2", "evt-3"):
        (rec,) = by_event[event_id]
        assert [(r.loc, r.type) for r in rec.reasons] == [([], "store_unavailable")]
        assert "disk I/O error" in rec.reasons[0].msg
        assert rec.payload == next(e for e in batch if isinstance(e, dict) and e["event_id"] == event_id)
    assert reasons_of(by_event["bad-project"][0]) == [(["project_id"], "unknown_project")]
    (job,) = store.list_jobs()
    assert job.status == "failed"
    assert job.error is not None and job.error["step"] == "commit" and job.error["type"] == "OperationalError"
    assert sorted(job.error["affected"]) == ["evt-1", "evt-2", "evt-3"]
    assert (job.counts["failed"], job.counts["quarantined"], job.counts["created"]) == (3, 4, 0)


def test_a_schema_invalid_event_also_lists_its_unknown_project_and_skus(seeded: Deps) -> None:
    bad = {**design("bad-all", ("PRJ-0000999", "XXX-00001", "NewBuild"), 0,
                    {"NOT-A-SKU": -1, "PSU-48V-OLD": 1, "ANT-4T4R-B41": 1}), "occurred_at": "yesterday"}

    report = ingest(seeded, [bad])

    assert report.counts["quarantined"] == 1
    (rec,) = seeded.store.list_quarantine().items
    assert sorted(map(str, reasons_of(rec))) == sorted(map(str, [
        (["occurred_at"], "datetime_from_date_parsing"),
        (["design_version"], "greater_than_equal"),
        (["items", 0, "qty"], "greater_than"),
        (["project_id"], "unknown_project"),
        (["items", 0, "sku"], "unknown_sku"),
        (["items", 1, "sku"], "inactive_sku"),
    ]))
    assert rec.project_id == "PRJ-0000999"


def _move(deps: Deps, order_id: str, status: OrderStatus) -> None:
    uow = UnitOfWork(deps.store, deps.inventory)
    order = uow.order(order_id)
    assert order is not None
    at = deps.clock.now()
    uow.add(record(order, evolve(order, at, status=status), action="test", actor=SYSTEM, at=at, event=None))
    assert uow.commit().ok


def test_an_approved_delta_order_a_newer_design_empties_is_revised_and_cancelled_in_one_write(seeded: Deps) -> None:
    ingest(seeded, [E1])
    _move(seeded, oid(NYC), S.RELEASED)
    ingest(seeded, [design("evt-d2", NYC, 2, {"ANT-4T4R-B41": 5, "RRU-B41-160W": 3, "CBL-HYB-30M": 6})])
    delta = oid(NYC, 2)
    approve(seeded, delta)

    report = ingest(seeded, [design("evt-d3", NYC, 3, {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6})])

    assert [(r.outcome.value, r.order_id) for r in report.results] == [("revised", delta)]
    stored = seeded.store.get_order(delta)
    assert stored is not None and (stored.status, stored.lines) == (S.CANCELLED, [])
    trail = [(a.action, a.from_status, a.to_status) for a in seeded.store.order_audit(delta)]
    assert trail[-2:] == [("revise", S.APPROVED, S.DRAFT), ("cancel", S.DRAFT, S.CANCELLED)]
    assert [e.type for e in seeded.store.outbox_events(delta)][-2:] == ["oms.order.revised", "oms.order.cancelled"]
