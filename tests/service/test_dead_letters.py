"""Nothing an Event Hub batch brings is lost when the store is down: a batch
that can be neither stored nor quarantined is dead-lettered whole to Blob
Storage before the function raises, announced once, and replayed later with
every event applied exactly once."""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from common.adapters.blob import LocalFolderBlobSource
from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.ports import BlobSource, OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import ENGINEERING_SOURCE, WAREHOUSE_SOURCE
from common.service.deadletters import list_dead_letters, receive_batch, replay_dead_letters
from tests.helpers.outages import commit_fails, down
from tests.helpers.warehouse import AT, WH, design_event, on_hand, stock_up

CONTAINER = "dead-letters"


def bodies(*events: Any) -> list[bytes]:
    return [e if isinstance(e, bytes) else json.dumps(e).encode() for e in events]


BATCH = bodies(design_event("e-1"), design_event("e-2", project="PRJ-0000104", site="DAL-00555"), b"{not json")


def test_a_batch_the_store_can_take_neither_as_changes_nor_as_quarantine_is_dead_lettered_whole(seeded: Deps) -> None:
    with pytest.raises(sqlite3.OperationalError):
        receive_batch(down(seeded), ENGINEERING_SOURCE, BATCH)

    (letter,) = list_dead_letters(seeded)
    assert (letter.source, letter.count, letter.error["type"]) == (ENGINEERING_SOURCE, 3, "OperationalError")
    kept = json.loads(seeded.blobs.read(CONTAINER, letter.name))
    assert kept["events"] == [{"json": design_event("e-1")},
                              {"json": design_event("e-2", project="PRJ-0000104", site="DAL-00555")},
                              {"text": "{not json"}]
    assert seeded.store.query_orders(OrderQuery()).items == []


def test_the_retries_of_one_batch_leave_one_dead_letter_and_one_notice(seeded: Deps) -> None:
    notifier = cast(MemoryNotifier, seeded.notifier)
    for _retry in range(3):
        with pytest.raises(sqlite3.OperationalError):
            receive_batch(down(seeded), ENGINEERING_SOURCE, BATCH)

    assert len(list_dead_letters(seeded)) == 1
    notices = [m for m in notifier.sent if m["subject"].startswith("[OMS] DEAD-LETTERED")]
    assert len(notices) == 1
    (notice,) = notices
    assert notice["level"] == "error"
    assert notice["subject"] == "[OMS] DEAD-LETTERED 3 engineering-events events: OperationalError"
    assert "oms deadletters replay" in notice["body"]
    assert notice["data"]["event_ids"] == ["e-1", "e-2"]


def test_a_batch_kept_in_quarantine_is_not_dead_lettered(seeded: Deps) -> None:
    deps = commit_fails(seeded)

    with pytest.raises(sqlite3.OperationalError):
        receive_batch(deps, ENGINEERING_SOURCE, BATCH)

    assert list_dead_letters(seeded) == []
    assert {r.event_id for r in seeded.store.list_quarantine().items} == {"e-1", "e-2", None}


def test_a_replay_applies_every_event_once_and_moves_the_dead_letter_aside(seeded: Deps) -> None:
    with pytest.raises(sqlite3.OperationalError):
        receive_batch(down(seeded), ENGINEERING_SOURCE, BATCH)
    # Meanwhile the retry policy got one of the events through.
    receive_batch(seeded, ENGINEERING_SOURCE, bodies(design_event("e-1")))

    (result,) = replay_dead_letters(seeded)

    assert result.status == "replayed"
    assert (result.counts["created"], result.counts["skipped_duplicate"], result.counts["quarantined"]) == (1, 1, 1)
    orders = seeded.store.query_orders(OrderQuery()).items
    assert sorted((o.project_id, o.revision) for o in orders) == [("PRJ-0000101", 1), ("PRJ-0000104", 1)]
    assert list_dead_letters(seeded) == []
    (done,) = list_dead_letters(seeded, replayed=True)
    assert done.replay is not None and done.replay["status"] == "replayed"
    assert replay_dead_letters(seeded) == []


def test_a_warehouse_batch_replays_its_stock_effects_once(seeded: Deps) -> None:
    stock_up(seeded, {"MNT-PIPE-2M": 10})
    adjust = {"event_id": "wh-adj", "event_type": "StockAdjusted", "occurred_at": AT, "warehouse_id": WH,
              "sku": "MNT-PIPE-2M", "delta": 5, "reason": "cycle_count"}
    with pytest.raises(sqlite3.OperationalError):
        receive_batch(down(seeded), WAREHOUSE_SOURCE, bodies(adjust))

    replay_dead_letters(seeded)
    receive_batch(seeded, WAREHOUSE_SOURCE, bodies(adjust))  # the hub redelivers it too

    assert on_hand(seeded)["MNT-PIPE-2M"] == (15, 0)


def test_a_replay_while_the_store_is_still_down_keeps_the_dead_letter(seeded: Deps) -> None:
    with pytest.raises(sqlite3.OperationalError):
        receive_batch(down(seeded), ENGINEERING_SOURCE, BATCH)

    (result,) = replay_dead_letters(down(seeded))

    assert result.status == "failed" and "OperationalError" in (result.error or "")
    assert len(list_dead_letters(seeded)) == 1


def test_a_dead_letter_older_than_the_markers_is_replayed_only_when_forced(seeded: Deps, clock: FixedClock) -> None:
    with pytest.raises(sqlite3.OperationalError):
        receive_batch(down(seeded), ENGINEERING_SOURCE, BATCH)
    clock.advance(timedelta(days=seeded.settings.marker_ttl_days + 1))

    (refused,) = replay_dead_letters(seeded)
    assert refused.status == "refused" and "OMS_MARKER_TTL_DAYS" in (refused.error or "")
    assert seeded.store.query_orders(OrderQuery()).items == []

    (forced,) = replay_dead_letters(seeded, force=True)
    assert forced.status == "replayed"
    assert len(seeded.store.query_orders(OrderQuery()).items) == 2


class DownBlobs(LocalFolderBlobSource):
    def write(self, container: str, name: str, data: bytes) -> None:
        raise ConnectionError("blob storage unreachable")


def test_when_blob_storage_fails_too_the_batch_goes_to_the_log(seeded: Deps, caplog: pytest.LogCaptureFixture) -> None:
    deps = dataclasses.replace(down(seeded), blobs=cast(BlobSource, DownBlobs(seeded.settings.data_path)))

    with caplog.at_level(logging.CRITICAL, logger="oms.deadletters"), pytest.raises(sqlite3.OperationalError):
        receive_batch(deps, ENGINEERING_SOURCE, BATCH)

    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert '"event_id":"e-1"' in record.getMessage() and '{"text":"{not json"}' in record.getMessage()


def test_dead_letters_are_listed_and_replayed_over_http_by_an_operator(seeded: Deps) -> None:
    from common.api.app import create_app
    from common.api.deps import provide_deps

    settings = seeded.settings.model_copy(update={"api_keys": {
        "op": {"user": "olga", "roles": ["operator"]}, "view": {"user": "vic", "roles": ["viewer"]}}})
    deps = dataclasses.replace(seeded, settings=settings)
    with pytest.raises(sqlite3.OperationalError):
        receive_batch(down(deps), ENGINEERING_SOURCE, BATCH)
    app = create_app()
    app.dependency_overrides[provide_deps] = lambda: deps
    client = TestClient(app)

    listed = client.get("/api/dead-letters", headers={"X-API-Key": "view"})
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert (item["source"], item["count"]) == (ENGINEERING_SOURCE, 3)
    assert client.post("/api/dead-letters/replay", headers={"X-API-Key": "view"}).status_code == 403

    replayed = client.post("/api/dead-letters/replay", headers={"X-API-Key": "op"}, json={"names": [item["name"]]})

    assert replayed.status_code == 200
    (result,) = replayed.json()["results"]
    assert (result["status"], result["counts"]["created"]) == ("replayed", 2)
    unknown = client.post("/api/dead-letters/replay", headers={"X-API-Key": "op"}, json={"names": ["nope.json"]})
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    audit = seeded.store.order_audit("PRJ-0000101~NYC-00417~NewBuild~1")
    assert audit[0].actor.id == "olga"
