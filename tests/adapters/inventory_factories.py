"""Inventory adapters under the inventory contract suite: name -> factory(tmp_path).

Other adapters register themselves by adding a factory here (the Cosmos
inventory, when a Cosmos server is reachable, from tests/adapters/cosmos_factories.py):
`INVENTORY_FACTORIES["cosmos"] = make_cosmos_inventory`. A factory returns an
object implementing `common.ports.InventoryStore` with its schema ensured; the
fixture calls its `close()` when it has one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common.adapters.sqlite import SqliteInventory
from common.ports import InventoryStore

INVENTORY_FACTORIES: dict[str, Callable[[Path], InventoryStore]] = {}


def _sqlite(tmp_path: Path) -> InventoryStore:
    inventory = SqliteInventory(tmp_path / "inventory-contract.db")
    inventory.ensure_schema()
    return inventory


INVENTORY_FACTORIES["sqlite"] = _sqlite
