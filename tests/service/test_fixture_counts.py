"""The JSON fixtures (`scripts/run`'s samples, `oms ingest master|catalog
FILE.jsonl`) count their rows as the Parquet path does: a row for a key the
store does not hold yet is created, one for a stored key modified."""

from __future__ import annotations

import json
from pathlib import Path

from common.service.bootstrap import Deps
from common.service.handlers.fixtures import load_fixture
from tests.conftest import SAMPLES


def test_a_first_fixture_load_creates_its_rows_and_a_second_modifies_them(deps: Deps) -> None:
    master, catalog = SAMPLES / "project-master.jsonl", SAMPLES / "item-catalog.jsonl"
    projects = len(master.read_text().splitlines())
    skus = len(catalog.read_text().splitlines())

    first = load_fixture(deps, "project-master", master), load_fixture(deps, "item-catalog", catalog)
    again = load_fixture(deps, "project-master", master), load_fixture(deps, "item-catalog", catalog)

    assert [(c["created"], c["modified"]) for c in first] == [(projects, 0), (skus, 0)]
    assert [(c["created"], c["modified"]) for c in again] == [(0, projects), (0, skus)]


def test_a_fixture_with_one_new_project_creates_one_and_modifies_the_rest(deps: Deps, tmp_path: Path) -> None:
    master = SAMPLES / "project-master.jsonl"
    load_fixture(deps, "project-master", master)
    rows = [json.loads(line) for line in master.read_text().splitlines()]
    rows.append({**rows[0], "project_id": "PRJ-0009999"})
    grown = tmp_path / "master.jsonl"
    grown.write_text("\n".join(json.dumps(r) for r in rows))

    counts = load_fixture(deps, "project-master", grown)

    assert (counts["created"], counts["modified"]) == (1, len(rows) - 1)
