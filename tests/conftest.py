"""Shared fixtures: a fresh embedded store and dependencies per test, with a
clock that moves only when told to."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.config import Settings
from common.domain.models import CatalogItem, Project
from common.service.bootstrap import Deps
from tests.helpers.sqlite import open_sqlite, sqlite_settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return sqlite_settings(tmp_path)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def deps(settings: Settings, clock: FixedClock) -> Iterator[Deps]:
    with open_sqlite(settings, clock=clock, notifier=MemoryNotifier()) as built:
        yield built


def load_samples(deps: Deps) -> None:
    """The bundled sample projects and catalogue."""
    deps.store.put_projects(Project.model_validate(json.loads(line))
                            for line in (SAMPLES / "project-master.jsonl").read_text().splitlines())
    deps.store.put_catalog(CatalogItem.model_validate(json.loads(line))
                           for line in (SAMPLES / "item-catalog.jsonl").read_text().splitlines())


@pytest.fixture
def seeded(deps: Deps) -> Deps:
    load_samples(deps)
    return deps


@pytest.fixture
def allocated(seeded: Deps) -> Deps:
    """An Allocated order for the sample design of PRJ-0000101 (tests/helpers/warehouse.py ORDER), its stock
    reserved from 10 of each SKU."""
    from tests.helpers.warehouse import ORDER, allocate, approve, design, stock_up

    stock_up(seeded, {"ANT-4T4R-B41": 10, "RRU-B41-160W": 10, "CBL-HYB-30M": 10})
    design(seeded)
    approve(seeded, ORDER)
    allocate(seeded, ORDER)
    return seeded


@pytest.fixture
def released(allocated: Deps) -> Deps:
    """That order Released (`allocated`), its stock still reserved."""
    from tests.helpers.warehouse import ORDER, release

    release(allocated, ORDER)
    return allocated
