"""Helpers for the Parquet ingestion tests: small dumps written the way a
planning system writes them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.domain.models import Project
from common.service.bootstrap import Deps

AT = datetime(2026, 11, 1, tzinfo=UTC)


def project_row(n: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "project_id": f"PRJ-{n:07d}", "site_code": f"NYC-{n:05d}", "market": "New York", "region": "Northeast",
        "latitude": 40.7, "longitude": -74.0, "project_status": "Active", "milestone": "MilestoneApproved",
        "plan_type": "Coverage", "national_priority": 2, "gated": False, "warehouse_id": "WH-EAST",
        "updated_at": AT,
    }
    row.update(overrides)
    return row


MASTER_TYPES = {"latitude": pa.float64(), "longitude": pa.float64(), "national_priority": pa.int64(),
                "gated": pa.bool_(), "updated_at": pa.timestamp("us", tz="UTC")}


def master_table(rows: list[dict[str, Any]], types: dict[str, pa.DataType] | None = None) -> pa.Table:
    wanted = {**MASTER_TYPES, **(types or {})}
    names = list(rows[0]) if rows else list(project_row(0))
    columns = {}
    for name in names:
        values = [r.get(name) for r in rows]
        columns[name] = pa.array(values, wanted.get(name, pa.string()) if name in wanted or
                                 all(isinstance(v, str) or v is None for v in values) else None)
    return pa.table(columns)


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, pa.Table], Path]:
    def _write(name: str, table: pa.Table) -> Path:
        path = tmp_path / name
        pq.write_table(table, path)
        return path

    return _write


def all_projects(deps: Deps) -> dict[str, Project]:
    page = deps.store.list_projects(limit=100_000)
    return {p.project_id: p for p in page.items}
