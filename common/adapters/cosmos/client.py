"""One `CosmosClient` per process, built lazily from the settings.

Two ways to connect (CONTRACT.md, Settings):
- identity: `COSMOS_CONNECTION__accountEndpoint` with Microsoft Entra ID
  (`__credential=managedidentity` + `__clientId` for a user-assigned identity,
  else `DefaultAzureCredential`); the account has local (key) auth off.
- connection string: `COSMOS_CONNECTION` (the emulator, or a local stand-in).
  Certificate checks are relaxed only for an endpoint on this machine, whose
  certificate is self-signed.

Transient faults: the SDK retries throttling (429) honouring the server's
retry-after, and connection errors; `with_retry` adds a bounded backoff on
top for whole operations (a transactional batch, a page of a query).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient, exceptions

from common.config import Settings

T = TypeVar("T")

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
TRANSIENT_STATUS = frozenset({408, 429, 449, 503})
TRANSIENT_ATTEMPTS = 6
MAX_BACKOFF_SECONDS = 30.0


class CosmosConfigError(RuntimeError):
    """The settings name no usable Cosmos DB account."""


@dataclass(frozen=True)
class Connection:
    endpoint: str
    key: str | None = None  # account key (connection string); None: Entra ID
    credential: str | None = None  # "managedidentity" or None
    client_id: str | None = None

    @property
    def is_local(self) -> bool:
        return (urlparse(self.endpoint).hostname or "") in LOCAL_HOSTS


def parse_connection_string(value: str) -> Connection:
    parts: dict[str, str] = {}
    for item in value.split(";"):
        if "=" in item:
            name, _, val = item.partition("=")
            parts[name.strip().lower()] = val.strip()
    endpoint, key = parts.get("accountendpoint"), parts.get("accountkey")
    if not endpoint or not key:
        raise CosmosConfigError("COSMOS_CONNECTION must hold AccountEndpoint=...;AccountKey=...;")
    return Connection(endpoint=endpoint, key=key)


def connection_from_settings(settings: Settings) -> Connection:
    if settings.cosmos_endpoint:
        return Connection(endpoint=settings.cosmos_endpoint, credential=settings.cosmos_credential,
                          client_id=settings.cosmos_client_id)
    if settings.cosmos_connection_string:
        return parse_connection_string(settings.cosmos_connection_string)
    raise CosmosConfigError("OMS_STORE=cosmos needs COSMOS_CONNECTION__accountEndpoint (managed identity) "
                            "or COSMOS_CONNECTION (connection string)")


def _token_credential(conn: Connection) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if (conn.credential or "").lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=conn.client_id) if conn.client_id else ManagedIdentityCredential()
    return DefaultAzureCredential(managed_identity_client_id=conn.client_id)


def make_client(conn: Connection) -> CosmosClient:
    options: dict[str, Any] = {
        "retry_total": 9,  # throttled requests: the SDK waits the server's retry-after
        "retry_backoff_max": MAX_BACKOFF_SECONDS,
        "connection_timeout": 10,
    }
    if conn.is_local:
        # The emulator and the local stand-in serve a self-signed certificate.
        options["connection_verify"] = False
    credential: Any = conn.key if conn.key is not None else _token_credential(conn)
    return CosmosClient(conn.endpoint, credential=credential, **options)


_lock = threading.Lock()
_clients: dict[Connection, CosmosClient] = {}


def get_client(conn: Connection) -> CosmosClient:
    """The process's client for `conn`, created on first use."""
    with _lock:
        client = _clients.get(conn)
        if client is None:
            if conn.is_local:
                import urllib3

                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            client = _clients[conn] = make_client(conn)
        return client


def close_clients() -> None:
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def retry_after_seconds(error: exceptions.CosmosHttpResponseError) -> float | None:
    headers = getattr(error, "headers", None) or {}
    response_headers = getattr(error.response, "headers", None)
    if response_headers:
        headers = {**headers, **dict(response_headers)}
    value = {k.lower(): v for k, v in headers.items()}.get("x-ms-retry-after-ms")
    try:
        return float(value) / 1000.0 if value is not None else None
    except (TypeError, ValueError):
        return None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(error, exceptions.CosmosHttpResponseError) and error.status_code in TRANSIENT_STATUS


def with_retry(operation: Callable[[], T], *, attempts: int = TRANSIENT_ATTEMPTS,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `operation`, retrying transient faults with exponential backoff and
    jitter, waiting at least what the server asked for (retry-after)."""
    for attempt in range(attempts):
        try:
            return operation()
        except Exception as error:
            if attempt == attempts - 1 or not is_transient(error):
                raise
            delay = min(MAX_BACKOFF_SECONDS, 0.2 * (2 ** attempt)) * (0.5 + random.random() / 2)
            if isinstance(error, exceptions.CosmosHttpResponseError):
                delay = max(delay, retry_after_seconds(error) or 0.0)
            sleep(delay)
    raise AssertionError("unreachable")
