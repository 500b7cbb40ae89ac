"""Ingestion's bulk writes on SQLite (`transaction(bulk=True)`): the WAL is
checkpointed seldom inside them, and the connection is back to SQLite's
default afterwards, whether the transaction commits or fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.adapters.sqlite import SqliteStore
from common.adapters.sqlite.database import AUTOCHECKPOINT, BULK_AUTOCHECKPOINT
from common.domain.models import Project
from common.domain.serialized import Serialized


def _autocheckpoint(store: SqliteStore) -> int:
    return int(store._rows("PRAGMA wal_autocheckpoint")[0][0])


def _documents(ids: list[str]) -> Serialized[Project]:
    texts = [Project(project_id=i, project_status="Active", milestone="M", national_priority=1,
                     gated=False).model_dump_json() for i in ids]
    return Serialized(Project, ids, texts)


def test_a_bulk_write_checkpoints_seldom_and_puts_the_default_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "oms.db")
    store.ensure_schema()
    assert _autocheckpoint(store) == AUTOCHECKPOINT
    with store.transaction(bulk=True):
        assert _autocheckpoint(store) == BULK_AUTOCHECKPOINT
    assert _autocheckpoint(store) == AUTOCHECKPOINT

    assert store.put_projects(_documents(["P-1", "P-2"])) == 2
    assert _autocheckpoint(store) == AUTOCHECKPOINT
    assert sorted(store.get_projects(["P-1", "P-2"])) == ["P-1", "P-2"]


def test_a_failed_bulk_write_leaves_nothing_and_the_default_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "oms.db")
    store.ensure_schema()
    broken = _documents(["P-1", "P-2"])
    broken.texts.pop()  # one id without its document: the rows do not pair up
    with pytest.raises(ValueError):
        store.put_projects(broken)
    assert _autocheckpoint(store) == AUTOCHECKPOINT
    assert store.get_projects(["P-1", "P-2"]) == {}
