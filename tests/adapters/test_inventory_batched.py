"""SQLite inventory: calls made inside `batched` (whose reservations are
decided against the stock rows as read in the block and written together)
answer as the same calls made alone, and leave the same stock and
reservations, whatever other calls come between them; a block left by an
exception keeps what its calls finished."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.adapters.sqlite import SqliteInventory
from common.domain.errors import InsufficientStock
from common.domain.models import Reservation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WAREHOUSES = ("WH-1", "WH-2")
SKUS = ("A", "B", "C", "D")
ORDERS = tuple(f"o{i}" for i in range(6))

lines = st.dictionaries(st.sampled_from(SKUS), st.integers(0, 6), min_size=1, max_size=4)
calls = st.one_of(
    st.tuples(st.just("reserve"), st.sampled_from(ORDERS), st.sampled_from(WAREHOUSES), lines,
              st.sampled_from(("run-1", "run-2"))),
    st.tuples(st.just("release"), st.sampled_from(ORDERS)),
    st.tuples(st.just("consume"), st.sampled_from(ORDERS)),
    st.tuples(st.just("adjust"), st.sampled_from(WAREHOUSES), st.sampled_from(SKUS), st.integers(-4, 6),
              st.sampled_from(("adj-1", "adj-2", "adj-3"))),
    st.tuples(st.just("snapshot"), st.sampled_from(WAREHOUSES), st.sampled_from(SKUS), st.integers(0, 8),
              st.integers(0, 3)),
    st.tuples(st.just("get"), st.sampled_from(ORDERS)),
    st.tuples(st.just("stock"), st.sampled_from((None, *WAREHOUSES))),
    st.tuples(st.just("reservations")),
)


def call(inventory: SqliteInventory, op: tuple[Any, ...]) -> Any:
    """One call and its answer (a refusal's shortfall as its answer)."""
    kind = op[0]
    try:
        if kind == "reserve":
            return inventory.reserve(Reservation(order_id=op[1], warehouse_id=op[2], lines=op[3], run_id=op[4],
                                                 at=T0))
        if kind == "release":
            return inventory.release_reservation(op[1])
        if kind == "consume":
            return inventory.consume_reservation(op[1])
        if kind == "adjust":
            return inventory.adjust_on_hand(op[1], op[2], op[3], op[4])
        if kind == "snapshot":
            return inventory.set_on_hand([(op[1], op[2], op[3])], T0 + timedelta(hours=op[4]))
        if kind == "get":
            found = inventory.get_reservation(op[1])
            return None if found is None else (found.warehouse_id, found.lines, found.run_id)
        if kind == "stock":
            return [(r.warehouse_id, r.sku, r.on_hand, r.reserved) for r in inventory.stock(op[1])]
        return [(r.order_id, r.warehouse_id, r.lines, r.run_id) for r in inventory.reservations()]
    except InsufficientStock as short:
        return ("short", short.shortfall)


def state(inventory: SqliteInventory) -> tuple[Any, ...]:
    return (call(inventory, ("stock", None)), call(inventory, ("reservations",)))


def fresh(path: Path) -> SqliteInventory:
    inventory = SqliteInventory(path)
    inventory.ensure_schema()
    inventory.set_on_hand([(w, s, 5) for w in WAREHOUSES for s in SKUS[:3]], T0)
    return inventory


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(calls, max_size=25))
def test_calls_in_a_batch_answer_and_write_as_alone(tmp_path_factory: pytest.TempPathFactory,
                                                     ops: list[tuple[Any, ...]]) -> None:
    folder = tmp_path_factory.mktemp("batched")
    alone, together = fresh(folder / "alone.db"), fresh(folder / "together.db")
    try:
        expected = [call(alone, op) for op in ops]
        with together.batched():
            answers = [call(together, op) for op in ops]
        assert answers == expected
        assert state(together) == state(alone)
    finally:
        alone.close()
        together.close()


def test_a_batch_left_by_an_exception_keeps_the_reservations_it_made(tmp_path: Path) -> None:
    inventory = fresh(tmp_path / "inventory.db")
    with pytest.raises(RuntimeError), inventory.batched():
        assert inventory.reserve(Reservation(order_id="o1", warehouse_id="WH-1", lines={"A": 2}, at=T0))
        assert inventory.reserve(Reservation(order_id="o2", warehouse_id="WH-1", lines={"A": 3}, at=T0))
        raise RuntimeError("the process stops here")
    other = SqliteInventory(tmp_path / "inventory.db")  # another connection sees them committed
    assert {r.order_id: r.lines for r in other.reservations()} == {"o1": {"A": 2}, "o2": {"A": 3}}
    assert [(r.sku, r.reserved) for r in other.stock("WH-1")] == [("A", 5), ("B", 0), ("C", 0)]
    other.close()
    inventory.close()


def test_a_reservation_refused_in_a_batch_changes_nothing(tmp_path: Path) -> None:
    inventory = fresh(tmp_path / "inventory.db")
    with inventory.batched():
        assert inventory.reserve(Reservation(order_id="o1", warehouse_id="WH-1", lines={"A": 4}, at=T0))
        with pytest.raises(InsufficientStock) as refused:
            inventory.reserve(Reservation(order_id="o2", warehouse_id="WH-1", lines={"A": 2, "B": 1}, at=T0))
        assert refused.value.shortfall == [{"sku": "A", "needed": 2, "available": 1}]
        assert inventory.reserve(Reservation(order_id="o1", warehouse_id="WH-1", lines={"A": 1}, at=T0)) is False
    assert [(r.sku, r.on_hand, r.reserved) for r in inventory.stock("WH-1")] == [("A", 5, 4), ("B", 5, 0),
                                                                               ("C", 5, 0)]
    assert [r.order_id for r in inventory.reservations()] == ["o1"]
    inventory.close()
