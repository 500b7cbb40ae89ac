"""Cosmos DB inventory guarantees beyond the shared contract, on the local
Cosmos server: the order -> warehouse lookup, a stock row changing between
the check and the batch, the 100-operation batch limit, racing releases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from common.adapters.cosmos import CosmosInventory
from common.config import Settings
from common.domain.errors import InsufficientStock
from common.domain.models import Reservation
from common.service.bootstrap import build_inventory
from tests.adapters.cosmos_factories import ScratchCosmosInventory, make_cosmos_inventory

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def res(order_id: str, lines: dict[str, int], warehouse: str = "WH-1") -> Reservation:
    return Reservation(order_id=order_id, warehouse_id=warehouse, lines=lines, run_id="run-1", at=T0)


@pytest.fixture
def inventory() -> Iterator[ScratchCosmosInventory]:
    made = make_cosmos_inventory()
    assert isinstance(made, ScratchCosmosInventory)
    yield made
    made.close()


def test_a_reservation_is_found_released_and_guarded_by_order_id_alone(
        inventory: ScratchCosmosInventory) -> None:
    inventory.set_on_hand([("WH-1", "A", 5), ("WH-2", "A", 5)], T0)
    assert inventory.reserve(res("o1", {"A": 2}, warehouse="WH-2")) is True

    held = inventory.get_reservation("o1")
    assert held is not None and held.warehouse_id == "WH-2" and held.lines == {"A": 2}
    # Held in WH-2: the same order is not reserved again in another warehouse.
    assert inventory.reserve(res("o1", {"A": 2}, warehouse="WH-1")) is False
    assert [(r.warehouse_id, r.reserved) for r in inventory.stock()] == [("WH-1", 0), ("WH-2", 2)]

    assert inventory.release_reservation("o1") is True
    assert inventory.get_reservation("o1") is None
    # Released: it may now be reserved anywhere, and is found there.
    assert inventory.reserve(res("o1", {"A": 3}, warehouse="WH-1")) is True
    again = inventory.get_reservation("o1")
    assert again is not None and again.warehouse_id == "WH-1"
    assert inventory.consume_reservation("o1") is True
    assert [(r.warehouse_id, r.on_hand, r.reserved) for r in inventory.stock()] == [("WH-1", 2, 0), ("WH-2", 5, 0)]


class _SnapshotArrivesMidway(ScratchCosmosInventory):
    """Lets a stock snapshot land between the reservation's read and its batch."""

    def __init__(self, inner: ScratchCosmosInventory, count: int) -> None:
        super().__init__(inner._client_factory, inner.database_name)
        self.other_writer = inner
        self.count = count
        self.reads = 0

    def _stock_docs(self, warehouse_id: str, skus: list[str]) -> dict[str, dict[str, Any]]:
        docs = super()._stock_docs(warehouse_id, skus)
        self.reads += 1
        if self.reads == 1:
            self.other_writer.set_on_hand([(warehouse_id, "A", self.count)], T0.replace(hour=1))
        return docs


def test_a_stock_row_changed_after_the_check_is_read_again_and_never_oversold(
        inventory: ScratchCosmosInventory) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    racing = _SnapshotArrivesMidway(inventory, count=2)

    with pytest.raises(InsufficientStock) as refused:
        racing.reserve(res("o1", {"A": 6}))

    assert racing.reads == 2  # the stale ETag failed the batch; the second read saw the new count
    assert refused.value.shortfall == [{"sku": "A", "needed": 6, "available": 2}]
    assert [(r.on_hand, r.reserved) for r in inventory.stock("WH-1")] == [(2, 0)]
    assert inventory.get_reservation("o1") is None


def test_a_reservation_of_more_skus_than_one_batch_holds_is_refused_and_changes_nothing(
        inventory: ScratchCosmosInventory) -> None:
    skus = [f"S{i:03d}" for i in range(100)]
    inventory.set_on_hand([("WH-1", sku, 1) for sku in skus], T0)

    with pytest.raises(ValueError, match="transactional batch"):
        inventory.reserve(res("o1", dict.fromkeys(skus, 1)))

    assert inventory.get_reservation("o1") is None
    assert all(row.reserved == 0 for row in inventory.stock("WH-1"))


def test_a_snapshot_larger_than_one_batch_sets_every_row(inventory: ScratchCosmosInventory) -> None:
    rows = [("WH-1", f"S{i:03d}", i) for i in range(250)]
    assert inventory.set_on_hand(rows, T0) == 250
    assert inventory.reserve(res("o1", {"S010": 4})) is True

    assert inventory.set_on_hand([(w, s, q + 1) for w, s, q in rows], T0.replace(hour=2)) == 250

    stock = {r.sku: (r.on_hand, r.reserved) for r in inventory.stock("WH-1")}
    assert len(stock) == 250 and stock["S249"] == (250, 0) and stock["S010"] == (11, 4)


def test_racing_release_and_consume_of_one_reservation_apply_exactly_once(
        inventory: ScratchCosmosInventory) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    inventory.reserve(res("o1", {"A": 4}))
    results: dict[str, bool] = {}
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        barrier.wait()
        results[name] = (inventory.consume_reservation("o1") if name == "consume"
                         else inventory.release_reservation("o1"))

    threads = [threading.Thread(target=run, args=(name,)) for name in ("consume", "release")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results.values()) == [False, True]
    row = inventory.stock("WH-1")[0]
    assert row.reserved == 0
    assert row.on_hand == (6 if results["consume"] else 10)


def test_the_cosmos_store_setting_builds_the_cosmos_inventory_without_connecting(tmp_path: Path) -> None:
    settings = Settings(OMS_STORE="cosmos", OMS_DATA_DIR=str(tmp_path),  # type: ignore[call-arg]
                        COSMOS_CONNECTION="AccountEndpoint=https://127.0.0.1:9/;AccountKey=a2V5;")
    built = build_inventory(settings)
    assert isinstance(built, CosmosInventory) and built.database_name == settings.cosmos_database
