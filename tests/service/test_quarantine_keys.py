"""A quarantine record is keyed by what came, not only by the id it claims:
a second, different event with the same event_id gets a record of its own
(it used to overwrite the first, and the original design was gone), while
the same bad input redelivered stays one record, counted."""

from __future__ import annotations

from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from tests.helpers.warehouse import design_event


def _send(deps: Deps, *events: object) -> None:
    ingest_engineering_events(deps, IngestEngineeringEvents(list(events), channel="http"))


def test_a_second_event_with_the_same_event_id_does_not_overwrite_the_first_record(seeded: Deps) -> None:
    first = {**design_event("evt-dup"), "site_code": "NOWHERE-1"}  # unknown site: quarantined
    second = {**design_event("evt-dup"), "site_code": "NOWHERE-2", "design_version": 7}
    _send(seeded, first)
    _send(seeded, second)

    records = seeded.store.list_quarantine().items
    assert len(records) == 2
    assert sorted(r.payload["site_code"] for r in records) == ["NOWHERE-1", "NOWHERE-2"]
    assert {r.event_id for r in records} == {"evt-dup"}


def test_the_same_bad_event_redelivered_stays_one_record_counted(seeded: Deps) -> None:
    bad = {**design_event("evt-bad"), "site_code": "NOWHERE-1"}
    _send(seeded, bad)
    _send(seeded, dict(bad))

    [record] = seeded.store.list_quarantine().items
    assert record.attempts == 2 and record.payload == bad
