"""Stores that fail as a store that stays down does, for the tests of what
the OMS does when its store is unreachable."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any, cast

from common.ports import Store
from common.service.bootstrap import Deps


class DownStore:
    """The real store, unreachable: every call fails as a store that stays down does."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        def fail(*_: Any, **__: Any) -> Any:
            raise sqlite3.OperationalError("unable to open database file")

        return fail


def down(deps: Deps) -> Deps:
    """`deps` with its store unreachable."""
    return dataclasses.replace(deps, store=cast(Store, DownStore(deps.store)))
