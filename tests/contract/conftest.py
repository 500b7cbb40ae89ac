"""The store contract suite runs against every store adapter: SQLite always,
Cosmos DB when a Cosmos server is reachable (the test command starts a local
one; see tests/emulators)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from common.adapters.sqlite import SqliteStore
from common.ports import Store

# name -> factory(tmp_path) -> Store. Other adapters register themselves here
# (tests/contract/adapters.py), so the suite itself never changes.
STORE_FACTORIES: dict[str, Callable[[Path], Store]] = {}


def _sqlite(tmp_path: Path) -> Store:
    store = SqliteStore(tmp_path / "contract.db")
    store.ensure_schema()
    return store


STORE_FACTORIES["sqlite"] = _sqlite

with contextlib.suppress(ImportError):  # optional adapters add their factories (and skip reasons) there
    from tests.contract import adapters as _adapters  # noqa: F401


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = STORE_FACTORIES[request.param](tmp_path)
    yield made
    made.close()
