"""Registers the Cosmos DB adapters with the contract suites. They run
against the local Cosmos server that scripts/test starts (or the official
emulator, when OMS_TEST_COSMOS_ENDPOINT points at it); without one they are
registered with a skip that names the reason, so a missing server shows in
the report instead of silently shrinking the suite."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from common.adapters.cosmos import CosmosInventory, CosmosStore
from common.adapters.cosmos.client import Connection, get_client
from common.ports import InventoryStore, Store
from tests.adapters.inventory_factories import INVENTORY_FACTORIES
from tests.adapters.store_factories import STORE_FACTORIES
from tests.emulators.settings import cosmos_endpoint, cosmos_key, cosmos_skip_reason


class ScratchCosmosStore(CosmosStore):
    """A store on a database of its own, dropped on close: tests stay apart."""

    def close(self) -> None:
        try:
            self._client_factory().delete_database(self.database_name)
        finally:
            super().close()


def make_cosmos_store(_tmp_path: Path | None = None, **_: Any) -> ScratchCosmosStore:
    reason = cosmos_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    conn = Connection(endpoint=cosmos_endpoint() or "", key=cosmos_key())
    store = ScratchCosmosStore(lambda: get_client(conn), f"contract-{uuid.uuid4().hex[:12]}")
    store.ensure_schema()
    return store


def _cosmos(tmp_path: Path) -> Store:
    return make_cosmos_store(tmp_path)


STORE_FACTORIES["cosmos"] = _cosmos


class ScratchCosmosInventory(CosmosInventory):
    """An inventory on a database of its own, dropped on close."""

    def close(self) -> None:
        try:
            self._client_factory().delete_database(self.database_name)
        finally:
            super().close()


def make_cosmos_inventory(_tmp_path: Path | None = None) -> InventoryStore:
    reason = cosmos_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    conn = Connection(endpoint=cosmos_endpoint() or "", key=cosmos_key())
    inventory = ScratchCosmosInventory(lambda: get_client(conn), f"inventory-{uuid.uuid4().hex[:12]}")
    inventory.ensure_schema()
    return inventory


INVENTORY_FACTORIES["cosmos"] = make_cosmos_inventory
