"""Fixtures on the local stand-ins that scripts/test starts (tests/emulators).
Each skips, naming the reason, when its stand-in is not there. And `store`,
which runs the store contract suite once per adapter registered in
tests/adapters/store_factories.py (tests/adapters/cosmos_factories.py adds
Cosmos DB's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.adapters.blob import BlobStorageSource
from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.config import Settings
from common.ports import Store
from common.service.bootstrap import Deps, build
from tests.adapters.cosmos_factories import ScratchCosmosStore, make_cosmos_store
from tests.adapters.store_factories import STORE_FACTORIES
from tests.emulators.settings import azurite_connection_string, azurite_skip_reason


class RecordingPublisher:
    """An EventPublisher that keeps what it was given (and can fail on demand)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_next = False
        self.failing = False  # down until set back to False

    def publish(self, events: Any) -> None:
        if self.fail_next or self.failing:
            self.fail_next = False
            raise ConnectionError("event hub unavailable")
        self.sent.extend(events)

    def close(self) -> None:
        pass


@pytest.fixture(params=sorted(STORE_FACTORIES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = STORE_FACTORIES[request.param](tmp_path)
    yield made
    made.close()


@pytest.fixture
def cosmos_store() -> Iterator[ScratchCosmosStore]:
    store = make_cosmos_store()
    yield store
    store.close()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def cosmos_deps(settings: Settings, cosmos_store: ScratchCosmosStore, clock: FixedClock,
                publisher: RecordingPublisher) -> Deps:
    return build(settings, store=cosmos_store, clock=clock, notifier=MemoryNotifier(), publisher=publisher)


@pytest.fixture
def azurite() -> Iterator[BlobStorageSource]:
    reason = azurite_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    source = BlobStorageSource(connection_string=azurite_connection_string())
    yield source
    source.close()


@pytest.fixture
def container_name() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"
