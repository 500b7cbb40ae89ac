"""One Cosmos DB database as the adapters see it (the orders store and the
inventory): the process's client, made on first use, and container clients
made once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Self, TypeVar

from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy

from common.adapters.cosmos.client import (
    TRANSIENT_ATTEMPTS,
    Connection,
    connection_from_settings,
    get_client,
    with_retry,
)
from common.config import Settings

T = TypeVar("T")


class CosmosDatabase:
    """Shares the process's client; safe to share between threads."""

    def __init__(self, client: CosmosClient | Callable[[], CosmosClient], database: str) -> None:
        self._client_factory = client if callable(client) else (lambda: client)
        self.database_name = database
        self._db: DatabaseProxy | None = None
        self._containers: dict[str, ContainerProxy] = {}
        self._lock = threading.Lock()
        # Whole operations retried on transient faults (beside the SDK's own
        # retries): a bounded exponential backoff, then the error is raised.
        self.attempts = TRANSIENT_ATTEMPTS

    def retry(self, operation: Callable[[], T]) -> T:
        return with_retry(operation, attempts=self.attempts)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """No I/O: the client is made on first use (never at import)."""
        conn: Connection = connection_from_settings(settings)
        return cls(lambda: get_client(conn), settings.cosmos_database)

    @property
    def db(self) -> DatabaseProxy:
        if self._db is None:
            self._db = self._client_factory().get_database_client(self.database_name)
        return self._db

    def container_client(self, name: str) -> ContainerProxy:
        found = self._containers.get(name)
        if found is None:
            with self._lock:
                found = self._containers.setdefault(name, self.db.get_container_client(name))
        return found
