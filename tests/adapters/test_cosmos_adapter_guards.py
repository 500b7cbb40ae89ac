"""What the Cosmos DB adapter does itself so that it holds against real Cosmos
DB (not only against the local stand-in): the containers come from the one
description infra/ provisions from, documents carry the retention's TTL, a
batch never mixes partitions, and the reservation index is a fast path only."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.adapters.cosmos import documents as d
from common.adapters.cosmos.inventory import INDEX, INDEX_PREFIX, index_partition
from common.adapters.cosmos.schema import containers
from common.domain.models import JobRun, Marker, QuarantineRecord, Reason, Reservation
from common.ports import DocWrite, PartitionChanges, Retention
from tests.adapters.cosmos_factories import ScratchCosmosStore, make_cosmos_inventory, make_cosmos_store
from tests.adapters.test_store_contract import T0, make_order, outbox
from tests.emulators.settings import cosmos_endpoint, cosmos_key, cosmos_skip_reason

pytestmark = pytest.mark.emulator


@pytest.fixture
def store() -> Any:
    made = make_cosmos_store()
    yield made
    made.close()


def test_containers_are_created_as_infra_describes_them(store: ScratchCosmosStore) -> None:
    for name in ("orders", "projects", "jobs", "quarantine", "leases"):
        spec = containers()[name]
        props = store.container(name).read()
        assert props["partitionKey"]["paths"] == [spec["partitionKey"]], name
        assert props.get("defaultTtl") == spec.get("defaultTtl"), name
        if "indexingPolicy" in spec:
            policy = props["indexingPolicy"]
            # Cosmos DB adds the _etag exclusion to every policy itself.
            etag = {"path": '/"_etag"/?'}
            assert policy["includedPaths"] == spec["indexingPolicy"]["includedPaths"], name
            assert [p for p in policy["excludedPaths"] if p != etag] == [
                p for p in spec["indexingPolicy"]["excludedPaths"] if p != etag], name


def test_oms_cosmos_init_creates_every_container_then_finds_them(tmp_path: Path) -> None:
    reason = cosmos_skip_reason()
    if reason:
        pytest.skip(reason)
    database = f"init-{os.getpid()}-{int(datetime.now(UTC).timestamp())}"
    env = {**os.environ, "COSMOS_CONNECTION": f"AccountEndpoint={cosmos_endpoint()};AccountKey={cosmos_key()};",
           "COSMOS_DATABASE": database, "OMS_STORE": "cosmos", "NO_COLOR": "1"}
    command = [sys.executable, "-m", "common.cli", "cosmos", "init"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    try:
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == [f"{database}/{name}: created" for name in containers()]
        assert second.stdout.splitlines() == [f"{database}/{name}: exists" for name in containers()]
    finally:
        from common.adapters.cosmos.client import Connection, get_client

        get_client(Connection(endpoint=cosmos_endpoint() or "", key=cosmos_key())).delete_database(database)


def test_settled_documents_carry_the_retention_ttl_and_open_ones_none(store: ScratchCosmosStore) -> None:
    store.retention = Retention(marker_days=30, outbox_days=7, job_days=90, quarantine_days=60)
    order = make_order("PRJ-T")
    marker = Marker(marker_id="mk~t~e1", project_id="PRJ-T", source="t", event_id="e1", outcome="created", at=T0)
    assert store.commit([PartitionChanges(partition="PRJ-T", orders={order.order_id: DocWrite(order, None)},
                                          outbox=[outbox(order, 1)], markers=[marker])]).ok
    orders = store.container("orders")

    def doc(kind: str, natural: str) -> dict[str, Any]:
        return dict(orders.read_item(d.doc_id(kind, natural), "PRJ-T"))

    assert doc(d.MARKER, "mk~t~e1")["ttl"] == 30 * 86_400
    assert "ttl" not in doc(d.ORDER, order.order_id)
    assert "ttl" not in doc(d.OUTBOX, f"{order.order_id}@1")  # undelivered: never expires
    store.mark_delivered([f"{order.order_id}@1"], T0)
    assert doc(d.OUTBOX, f"{order.order_id}@1")["ttl"] == 7 * 86_400

    running = JobRun(job_id="job-1", job="j", started_at=T0)
    store.put_job(running)
    assert "ttl" not in store.container("jobs").read_item("job-1", "job-1")
    store.put_job(running.model_copy(update={"status": "succeeded", "ended_at": T0 + timedelta(seconds=1)}))
    assert store.container("jobs").read_item("job-1", "job-1")["ttl"] == 90 * 86_400

    record = QuarantineRecord(id="q-1", source="t", received_at=T0, reasons=[Reason(msg="bad")], payload={})
    store.put_quarantine(record)
    assert "ttl" not in store.container("quarantine").read_item("q-1", "q-1")
    store.put_quarantine(record.model_copy(update={"status": "reprocessed"}))
    assert store.container("quarantine").read_item("q-1", "q-1")["ttl"] == 60 * 86_400


def test_a_batch_with_a_document_of_another_partition_is_refused_before_anything_is_sent(
        store: ScratchCosmosStore) -> None:
    mine, stray = make_order("PRJ-A"), make_order("PRJ-B")
    changes = PartitionChanges(partition="PRJ-A", orders={mine.order_id: DocWrite(mine, None),
                                                          stray.order_id: DocWrite(stray, None)})

    with pytest.raises(ValueError, match="PRJ-B"):
        store.commit([changes])

    assert store.get_orders([mine.order_id, stray.order_id]) == {}


def test_reservation_index_documents_spread_over_shards_and_expire() -> None:
    inventory = make_cosmos_inventory()
    try:
        inventory.set_on_hand([("WH-1", "A", 100)], T0)
        orders = [f"PRJ-{n}~S~NewBuild~1" for n in range(40)]
        for order_id in orders:
            assert inventory.reserve(Reservation(order_id=order_id, warehouse_id="WH-1", lines={"A": 1}, at=T0))
        container = inventory.container  # type: ignore[attr-defined]
        shards = {index_partition(o) for o in orders}
        assert len(shards) > 8 and all(s.startswith(INDEX_PREFIX) for s in shards)
        index_doc = container.read_item(d.doc_id(INDEX, orders[0]), index_partition(orders[0]))
        assert index_doc["ttl"] > 0 and index_doc["held_in"] == "WH-1"
    finally:
        inventory.close()  # type: ignore[attr-defined]


def test_a_reservation_whose_index_expired_is_still_found_released_and_consumed() -> None:
    inventory = make_cosmos_inventory()
    try:
        inventory.set_on_hand([("WH-1", "A", 10)], T0)
        for order_id in ("o-1", "o-2"):
            assert inventory.reserve(Reservation(order_id=order_id, warehouse_id="WH-1", lines={"A": 2}, at=T0))
        container = inventory.container  # type: ignore[attr-defined]
        for order_id in ("o-1", "o-2"):  # what TTL does after INDEX_TTL_DAYS
            container.delete_item(d.doc_id(INDEX, order_id), index_partition(order_id))

        held = inventory.get_reservation("o-1")
        assert held is not None and held.lines == {"A": 2}
        assert inventory.release_reservation("o-1") is True
        assert inventory.consume_reservation("o-2") is True
        assert [(r.on_hand, r.reserved) for r in inventory.stock("WH-1")] == [(8, 0)]
        assert inventory.get_reservation("o-1") is None
    finally:
        inventory.close()  # type: ignore[attr-defined]
