"""The inventory contract: every InventoryStore adapter keeps stock and
reservations the same way (available never negative, one reservation per
order, all or none)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.domain.errors import InsufficientStock
from common.domain.models import Reservation
from common.ports import InventoryStore
from tests.adapters.inventory_factories import INVENTORY_FACTORIES  # optional adapters add theirs (conftest)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=sorted(INVENTORY_FACTORIES))
def inventory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InventoryStore]:
    made = INVENTORY_FACTORIES[request.param](tmp_path)
    yield made
    close = getattr(made, "close", None)
    if close is not None:
        close()


def res(order_id: str, lines: dict[str, int], warehouse: str = "WH-1", run_id: str = "run-1") -> Reservation:
    return Reservation(order_id=order_id, warehouse_id=warehouse, lines=lines, run_id=run_id, at=T0)


def levels(inventory: InventoryStore, warehouse: str = "WH-1") -> dict[str, tuple[int, int]]:
    return {r.sku: (r.on_hand, r.reserved) for r in inventory.stock(warehouse)}


def test_snapshot_sets_on_hand_per_warehouse_and_sku(inventory: InventoryStore) -> None:
    assert inventory.set_on_hand([("WH-1", "A", 5), ("WH-1", "B", 0), ("WH-2", "A", 7)], T0) == 3
    assert levels(inventory) == {"A": (5, 0), "B": (0, 0)}
    assert levels(inventory, "WH-2") == {"A": (7, 0)}
    assert {(r.warehouse_id, r.sku) for r in inventory.stock()} == {("WH-1", "A"), ("WH-1", "B"), ("WH-2", "A")}


def test_reservation_takes_every_line_or_nothing(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 5), ("WH-1", "B", 2)], T0)
    assert inventory.reserve(res("o1", {"A": 3, "B": 2})) is True
    assert levels(inventory) == {"A": (5, 3), "B": (2, 2)}
    with pytest.raises(InsufficientStock) as refused:
        inventory.reserve(res("o2", {"A": 2, "B": 1}))
    assert refused.value.shortfall == [{"sku": "B", "needed": 1, "available": 0}]
    assert levels(inventory) == {"A": (5, 3), "B": (2, 2)}
    assert inventory.get_reservation("o2") is None


def test_reserving_a_sku_without_stock_row_is_refused(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 5)], T0)
    with pytest.raises(InsufficientStock):
        inventory.reserve(res("o1", {"A": 1, "Z": 1}))
    assert levels(inventory) == {"A": (5, 0)}


def test_reservation_is_idempotent_per_order(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    assert inventory.reserve(res("o1", {"A": 4})) is True
    assert inventory.reserve(res("o1", {"A": 4}, run_id="run-2")) is False
    assert levels(inventory) == {"A": (10, 4)}
    held = inventory.get_reservation("o1")
    assert held is not None and held.lines == {"A": 4} and held.run_id == "run-1"
    assert [r.order_id for r in inventory.reservations()] == ["o1"]


def test_release_puts_the_units_back_once(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    inventory.reserve(res("o1", {"A": 4}))
    assert inventory.release_reservation("o1") is True
    assert inventory.release_reservation("o1") is False
    assert levels(inventory) == {"A": (10, 0)}
    assert inventory.get_reservation("o1") is None


def test_consume_takes_the_units_out_of_on_hand_once(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    inventory.reserve(res("o1", {"A": 4}))
    assert inventory.consume_reservation("o1") is True
    assert inventory.consume_reservation("o1") is False
    assert levels(inventory) == {"A": (6, 0)}


def test_stock_adjustment_applies_once_per_adjustment_id(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    assert inventory.adjust_on_hand("WH-1", "A", -4, "adj-1") is True
    assert inventory.adjust_on_hand("WH-1", "A", -4, "adj-1") is False
    assert inventory.adjust_on_hand("WH-1", "B", 3, "adj-2") is True
    assert levels(inventory) == {"A": (6, 0), "B": (3, 0)}


def test_stock_adjustment_never_takes_on_hand_below_zero(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 2)], T0)
    inventory.adjust_on_hand("WH-1", "A", -5, "adj-1")
    assert levels(inventory) == {"A": (0, 0)}


def test_snapshot_below_reserved_is_kept_and_blocks_further_reservations(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    inventory.reserve(res("o1", {"A": 8}))
    assert inventory.set_on_hand([("WH-1", "A", 5)], T0 + timedelta(hours=1)) == 1
    row = inventory.stock("WH-1")[0]
    assert (row.on_hand, row.reserved, row.available) == (5, 8, -3)
    with pytest.raises(InsufficientStock) as refused:
        inventory.reserve(res("o2", {"A": 1}))
    assert refused.value.shortfall == [{"sku": "A", "needed": 1, "available": 0}]
    inventory.release_reservation("o1")
    assert levels(inventory) == {"A": (5, 0)}


def test_stale_snapshot_row_is_skipped(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    assert inventory.set_on_hand([("WH-1", "A", 3), ("WH-1", "B", 1)], T0 - timedelta(days=1)) == 1
    assert levels(inventory) == {"A": (10, 0), "B": (1, 0)}


def test_negative_on_hand_in_a_snapshot_is_refused_and_changes_nothing(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    with pytest.raises(ValueError):
        inventory.set_on_hand([("WH-1", "A", 4), ("WH-1", "B", -1)], T0 + timedelta(hours=1))
    assert levels(inventory) == {"A": (10, 0)}


def test_concurrent_reservations_never_oversell(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 10)], T0)
    won: list[str] = []

    def attempt(order_id: str) -> None:
        try:
            if inventory.reserve(res(order_id, {"A": 3})):
                won.append(order_id)
        except InsufficientStock:
            pass

    threads = [threading.Thread(target=attempt, args=(f"o{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 3
    assert levels(inventory) == {"A": (10, 9)}
    assert sorted(r.order_id for r in inventory.reservations()) == sorted(won)


def test_skus_with_characters_a_document_id_cannot_hold_are_stocked_and_reserved(inventory: InventoryStore) -> None:
    odd = "ANT/65#A?%"
    inventory.set_on_hand([("WH-1", odd, 5), ("WH-1", "ANT%2F65%23A%3F%25", 1)], T0)

    assert inventory.reserve(res("o1", {odd: 4})) is True
    assert inventory.adjust_on_hand("WH-1", odd, 2, "adj-odd") is True

    assert levels(inventory)[odd] == (7, 4)
    assert levels(inventory)["ANT%2F65%23A%3F%25"] == (1, 0)
    held = inventory.get_reservation("o1")
    assert held is not None and held.lines == {odd: 4}
    assert inventory.consume_reservation("o1") is True
    assert levels(inventory)[odd] == (3, 0)


def test_calls_in_a_batch_answer_as_alone_and_what_they_finished_stays(inventory: InventoryStore) -> None:
    inventory.set_on_hand([("WH-1", "A", 5), ("WH-1", "B", 2)], T0)
    with pytest.raises(RuntimeError), inventory.batched():
        assert inventory.reserve(res("o1", {"A": 3, "B": 1})) is True
        assert inventory.reserve(res("o1", {"A": 3, "B": 1})) is False  # held: idempotent inside too
        with pytest.raises(InsufficientStock) as refused:
            inventory.reserve(res("o2", {"A": 1, "B": 2}))  # sees o1's units gone; changes nothing
        assert refused.value.shortfall == [{"sku": "B", "needed": 2, "available": 1}]
        assert inventory.release_reservation("o1") is True
        assert inventory.reserve(res("o3", {"A": 2})) is True
        assert levels(inventory) == {"A": (5, 2), "B": (2, 0)}
        raise RuntimeError("the caller fails after its calls")
    assert levels(inventory) == {"A": (5, 2), "B": (2, 0)}
    assert inventory.get_reservation("o3") is not None and inventory.get_reservation("o2") is None
    with pytest.raises(InsufficientStock):  # stored: the batch's reservation still holds its units
        inventory.reserve(res("o4", {"A": 4}))
