"""Stores that fail as a store that stays down does, for the tests of what
the OMS does when its store is unreachable."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

import pytest

from common.ports import Store
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events


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


class CommitFails:
    """The real store, except that writing order changes fails as a store
    that stays down does (reads, quarantine, jobs and incidents still work)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def commit(self, changes: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def commit_fails(deps: Deps, store: type[CommitFails] = CommitFails) -> Deps:
    """`deps` with its store's commits failing (`store`: a subclass that fails
    more, or differently)."""
    return dataclasses.replace(deps, store=cast(Store, store(deps.store)))


def fail_engineering_batch(deps: Deps, events: Sequence[dict[str, Any]], channel: str = "http") -> None:
    """An engineering batch whose commit fails: the job fails, its events are
    quarantined and its incident opens (or grows)."""
    with pytest.raises(sqlite3.OperationalError):
        ingest_engineering_events(commit_fails(deps), IngestEngineeringEvents(list(events), channel=channel))
