"""Files of events: nothing in them is dropped, whatever they hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.domain.models import QuarantineRecord
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import Undecodable
from common.service.event_files import ENGINEERING, ingest_event_file, read_event_file


def quarantined(deps: Deps) -> list[QuarantineRecord]:
    return deps.store.list_quarantine().items


EVENT = {"event_id": "evt-1", "event_type": "DesignApproved", "occurred_at": "2026-11-20T08:00:00Z",
         "project_id": "PRJ-0000101", "site_code": "NYC-00417", "order_type": "NewBuild", "design_version": 1,
         "items": [{"sku": "ANT-4T4R-B41", "qty": 3}]}


def test_a_line_that_is_not_utf8_is_kept_for_quarantine_and_the_others_are_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(json.dumps(EVENT).encode() + b"\n" + b'{"event_id": "caf\xe9"}\n\n')

    read = read_event_file(path)

    assert read.rejected is None
    assert read.events[0] == EVENT
    assert isinstance(read.events[1], Undecodable) and read.events[1].error.startswith("not UTF-8")


def test_a_json_array_file_is_read_as_its_events(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([EVENT, {"event_id": "evt-2"}]))
    assert read_event_file(path).events == [EVENT, {"event_id": "evt-2"}]


def test_a_broken_json_array_file_is_quarantined_whole_and_the_job_says_rejected(seeded: Deps, tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text('[{"event_id": "evt-1"}, {"event_')

    run = ingest_event_file(seeded, ENGINEERING, path)

    assert run.details["rejected"] is True and run.counts["quarantined"] == 1
    (record,) = quarantined(seeded)
    assert record.source == "engineering-events" and record.reasons[0].type == "file_invalid"
    assert record.payload["file"] == "events.json"
    assert seeded.store.query_orders(OrderQuery()).items == []
    assert seeded.store.outbox_events() == []


@pytest.mark.parametrize("blank", ["", "\n\n"])
def test_an_empty_file_is_processed_with_nothing_in_it(seeded: Deps, tmp_path: Path, blank: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(blank)
    run = ingest_event_file(seeded, ENGINEERING, path)
    assert run.status == "succeeded" and not run.details.get("rejected") and run.counts["quarantined"] == 0
