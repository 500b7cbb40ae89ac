"""Registers the Cosmos DB adapters with the contract suites. They run
against the local Cosmos server that scripts/test starts (or the official
emulator, when OMS_TEST_COSMOS_ENDPOINT points at it); without one they are
registered with a skip that names the reason, so a missing server shows in
the report instead of silently shrinking the suite."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from common.adapters.cosmos import CosmosInventory, CosmosStore
from common.adapters.cosmos.client import Connection, get_client
from common.ports import InventoryStore, Store
from tests.adapters.inventory_factories import INVENTORY_FACTORIES
from tests.adapters.store_factories import STORE_FACTORIES
from tests.emulators.settings import cosmos_endpoint, cosmos_key, cosmos_skip_reason


class DroppedOnClose:
    """A Cosmos adapter on a database of its own, dropped on close: tests stay apart."""

    _client_factory: Callable[[], Any]
    database_name: str

    def close(self) -> None:
        try:
            self._client_factory().delete_database(self.database_name)
        finally:
            super().close()  # type: ignore[misc]


class ScratchCosmosStore(DroppedOnClose, CosmosStore):
    pass


class ScratchCosmosInventory(DroppedOnClose, CosmosInventory):
    pass


Scratch = TypeVar("Scratch", ScratchCosmosStore, ScratchCosmosInventory)


def _scratch(kind: type[Scratch], prefix: str) -> Scratch:
    """`kind` on a fresh database of the test server, its schema made (a skip naming the reason without one)."""
    reason = cosmos_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    conn = Connection(endpoint=cosmos_endpoint() or "", key=cosmos_key())
    adapter = kind(lambda: get_client(conn), f"{prefix}-{uuid.uuid4().hex[:12]}")
    adapter.ensure_schema()
    return adapter


def make_cosmos_store(_tmp_path: Path | None = None, **_: Any) -> ScratchCosmosStore:
    return _scratch(ScratchCosmosStore, "contract")


def _cosmos(tmp_path: Path) -> Store:
    return make_cosmos_store(tmp_path)


STORE_FACTORIES["cosmos"] = _cosmos


def make_cosmos_inventory(_tmp_path: Path | None = None) -> InventoryStore:
    return _scratch(ScratchCosmosInventory, "inventory")


INVENTORY_FACTORIES["cosmos"] = make_cosmos_inventory
