"""The store contract suite runs against every store adapter: SQLite always,
Cosmos DB when a Cosmos server is reachable (the test command starts a local
one; see tests/emulators). The `store` fixture (tests/adapters/conftest.py)
takes each factory registered here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common.adapters.sqlite import SqliteStore
from common.ports import Store

# name -> factory(tmp_path) -> Store. Other adapters register themselves here
# (tests/adapters/cosmos_factories.py), so the suite itself never changes.
STORE_FACTORIES: dict[str, Callable[[Path], Store]] = {}


def _sqlite(tmp_path: Path) -> Store:
    store = SqliteStore(tmp_path / "contract.db")
    store.ensure_schema()
    return store


STORE_FACTORIES["sqlite"] = _sqlite
