"""Dependencies on a SQLite store and inventory of their own in one folder
(oms.db and data/): what tests/conftest.py's `deps` is for each test, and
what a test needing its own builds (a module's served console, a CLI's
working folder, one per hypothesis example, a second process's view)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common.adapters.sqlite import SqliteInventory, SqliteStore
from common.config import Settings
from common.service.bootstrap import Deps, build


def sqlite_settings(folder: Path, **env: str) -> Settings:
    """Settings for a SQLite store in `folder`, with `env`'s OMS_* values."""
    return Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH=str(folder / "oms.db"),  # type: ignore[call-arg]
                    OMS_DATA_DIR=str(folder / "data"), **env)


def sqlite_deps(settings: Settings, **overrides: Any) -> Deps:
    """`build(settings, **overrides)` on the store and inventory at
    `settings.sqlite_path`, their schemas made."""
    store = SqliteStore(settings.sqlite_path)
    store.ensure_schema()
    inventory = SqliteInventory(settings.sqlite_path)
    inventory.ensure_schema()
    return build(settings, store=store, inventory=inventory, **overrides)


@contextmanager
def open_sqlite(settings: Settings, **overrides: Any) -> Iterator[Deps]:
    """`sqlite_deps`, closed after."""
    deps = sqlite_deps(settings, **overrides)
    try:
        yield deps
    finally:
        deps.inventory.close()
        deps.store.close()
