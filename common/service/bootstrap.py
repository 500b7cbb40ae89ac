"""The composition root: wires real adapters from the settings, or whatever a
test hands in. Clients are built once per process, lazily, never at import."""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass, field
from typing import Any

from common.adapters.clock import SystemClock
from common.adapters.notify import LogNotifier, build_notifier
from common.config import Settings, get_settings
from common.domain.validation import QualifyingPolicy
from common.ports import BlobSource, Clock, EventPublisher, InventoryStore, Notifier, Store


@dataclass
class Deps:
    """Everything a handler may use. Shared by invocations; holds no
    per-invocation state (that is the unit of work's)."""

    settings: Settings
    store: Store
    inventory: InventoryStore
    publisher: EventPublisher
    blobs: BlobSource
    clock: Clock = field(default_factory=SystemClock)
    notifier: Notifier = field(default_factory=LogNotifier)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def policy(self) -> QualifyingPolicy:
        return QualifyingPolicy(milestones=frozenset(self.settings.qualifying_milestones),
                                blocking_statuses=frozenset(self.settings.blocking_statuses))


def build_store(settings: Settings) -> Store:
    if settings.store == "cosmos":
        from common.adapters.cosmos import CosmosStore

        return CosmosStore.from_settings(settings)
    from common.adapters.sqlite import SqliteStore

    store = SqliteStore(settings.sqlite_path)
    store.ensure_schema()
    return store


def build_publisher(settings: Settings) -> EventPublisher:
    """Event Hub `order-events` when a connection is configured, else the
    local JSON-lines sink under OMS_DATA_DIR. Neither connects here."""
    if settings.eventhub_namespace or settings.eventhub_connection_string:
        from common.adapters.eventhub import shared_publisher

        return shared_publisher(settings)
    from common.adapters.local_sink import LocalSinkPublisher

    return LocalSinkPublisher.in_data_dir(settings.data_path)


def build_inventory(settings: Settings) -> InventoryStore:
    if settings.store == "cosmos":
        from common.adapters.cosmos import CosmosInventory

        return CosmosInventory.from_settings(settings)  # no I/O until first use, like the store
    from common.adapters.sqlite import SqliteInventory

    inventory = SqliteInventory(settings.sqlite_path)
    inventory.ensure_schema()
    return inventory


def build(settings: Settings | None = None, **overrides: Any) -> Deps:
    settings = settings or get_settings()
    store = overrides.pop("store", None) or build_store(settings)
    if overrides.get("inventory") is None:
        overrides["inventory"] = build_inventory(settings)
    if "notifier" not in overrides:
        overrides["notifier"] = build_notifier(settings)
    if "publisher" not in overrides:
        overrides["publisher"] = build_publisher(settings)
    if "blobs" not in overrides:
        from common.adapters.blob import build_blobs

        overrides["blobs"] = build_blobs(settings)
    return Deps(settings=settings, store=store, **overrides)


_lock = threading.Lock()
_deps: Deps | None = None


def tune_gc() -> None:
    """Fewer garbage collections, for a process that makes many short-lived
    models for each event. The objects that exist at start-up (modules,
    clients, settings) are frozen, so collections no longer scan them, and
    young collections run every 10,000 allocations instead of every 700.
    The cyclic collector took about 15% of the CPU time in bench/events.py."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def get_deps() -> Deps:
    """The process-wide dependencies, built on first use (Functions workers,
    the local server, the CLI)."""
    global _deps
    with _lock:
        if _deps is None:
            from common.telemetry import configure

            _deps = build()
            configure(_deps.settings)
            tune_gc()
        return _deps


def built_deps() -> Deps | None:
    """The process-wide dependencies if built or set already; builds nothing
    (the CLI checks a store exists before a read would create it)."""
    with _lock:
        return _deps


def set_deps(deps: Deps | None) -> None:
    """Replace the process-wide dependencies (tests, `oms serve`)."""
    global _deps
    with _lock:
        _deps = deps
