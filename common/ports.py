"""Ports: what the service layer needs from the outside world.

Adapters (SQLite, Cosmos DB, Blob Storage, Event Hubs, SMTP, ...) implement
these. The store contract suite (tests/adapters) holds every store adapter
to the same behaviour.

Writes go through `Store.commit`, which takes the changes of one unit of work
grouped by partition (the `project_id`). Each partition's changes are atomic:
all of them are written or none, and a partition fails as a whole when a
document changed since it was read (ETag) or an insert-only document (audit
entry, outbox event, idempotency marker) exists already. Partitions are
independent: one failing does not undo another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from common.domain.incidents import Incident, IncidentAudit, Subscription
from common.domain.models import (
    AuditEntry,
    CatalogItem,
    JobRun,
    Marker,
    Order,
    OutboxEvent,
    Project,
    QuarantineRecord,
    Reservation,
    StockRow,
    Stream,
)
from common.domain.replenishment import ReorderPolicy, ReplenishmentRequest, RequestChange

D = TypeVar("D")


@dataclass
class DocWrite(Generic[D]):
    """Write `doc`; `expected` is the ETag it was read with, None to create it
    (failing when it exists)."""

    doc: D
    expected: str | None


@dataclass
class PartitionChanges:
    partition: str
    orders: dict[str, DocWrite[Order]] = field(default_factory=dict)
    streams: dict[str, DocWrite[Stream]] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    outbox: list[OutboxEvent] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.orders or self.streams or self.audit or self.outbox or self.markers)

    def operation_count(self) -> int:
        return len(self.orders) + len(self.streams) + len(self.audit) + len(self.outbox) + len(self.markers)


class ConflictKind(StrEnum):
    ETAG = "etag"  # a document changed since it was read
    EXISTS = "exists"  # an insert-only document exists (e.g. the event's idempotency marker)


@dataclass
class CommitResult:
    """Partitions that failed (nothing of them written); every other one is committed."""

    conflicts: dict[str, ConflictKind] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.conflicts


@dataclass
class OrderQuery:
    status: str | None = None
    project_id: str | None = None
    site_code: str | None = None
    market: str | None = None
    kind: str | None = None
    updated_since: datetime | None = None
    limit: int = 100
    continuation: str | None = None
    # The work queue's filters and order (common/service/handlers/work_queue.py):
    # only orders in one of these statuses that entered it before its time
    # (ages and SLA breaches), and `sort` "entered" for the longest waiting
    # first (ties by order id) instead of by order id.
    entered_before: dict[str, datetime] | None = None
    sort: str = "order_id"


@dataclass
class Page(Generic[D]):
    """One page of a list, and the token for the next (None on the last page).

    Paging is keyset: the token names the sort key of the page's last item,
    so items written while a client pages never make it see an item twice or
    miss one that existed when it started. Tokens are opaque; one the store
    did not hand out (for this list) raises ValueError (the API's 422)."""

    items: list[D]
    continuation: str | None = None


MAX_PAGE = 5000  # the most items one audit or quarantine page holds, whatever `limit` asks


class NotAToken(ValueError):
    """A continuation token the store did not hand out for this list (and
    these filters' list): the API answers 422."""

    def __init__(self) -> None:
        super().__init__("not a continuation token")

DAY = 86_400


@dataclass(frozen=True)
class Retention:
    """How long finished things are kept, in days (0: forever). Only what is
    settled expires: idempotency markers, delivered outbox events, finished job
    runs, quarantine records no longer open. Cosmos DB expires them by TTL; the
    embedded store deletes them on `purge_expired` (the sweep)."""

    marker_days: float = 30
    outbox_days: float = 7
    job_days: float = 90
    quarantine_days: float = 90

    @staticmethod
    def seconds(days: float) -> int | None:
        return int(days * DAY) if days > 0 else None

    @classmethod
    def from_settings(cls, settings: Any) -> Retention:
        return cls(marker_days=settings.marker_ttl_days, outbox_days=settings.outbox_ttl_days,
                   job_days=settings.job_ttl_days, quarantine_days=settings.quarantine_ttl_days)


class Store(Protocol):
    """Orders, streams, audit, outbox, markers, master data, jobs and quarantine."""

    # --- lifecycle
    def ensure_schema(self) -> None: ...
    def ping(self) -> bool: ...
    def close(self) -> None: ...

    # --- order partition (project_id)
    def get_order(self, order_id: str) -> Order | None: ...
    def get_orders(self, order_ids: Sequence[str]) -> dict[str, Order]: ...
    def get_streams(self, stream_ids: Sequence[str]) -> dict[str, Stream]: ...
    def parked_streams(self, project_ids: Sequence[str]) -> list[Stream]:
        """Streams of these projects holding a parked design (master-data path;
        may query across partitions)."""
        ...

    def existing_markers(self, markers: Sequence[tuple[str, str]]) -> set[str]:
        """Which of the `(partition, marker_id)` markers exist: queried per
        partition, since this is on every batch's path."""
        ...

    def commit(self, changes: Sequence[PartitionChanges]) -> CommitResult: ...
    def query_orders(self, query: OrderQuery) -> Page[Order]: ...
    def query_order_docs(self, query: OrderQuery) -> Page[dict[str, Any]]:
        """`query_orders`' page as JSON objects, for a read that only passes
        the orders on (the HTTP list): each order's document as stored (a
        field at its default may be left out) with its `etag`; no model built."""
        ...
    def count_orders(self, query: OrderQuery) -> dict[str, int]:
        """How many orders match `query` (paging and sort ignored) per status;
        statuses with none are left out."""
        ...
    def order_audit(self, order_id: str) -> list[AuditEntry]: ...

    # --- the order-flow aggregate (common/domain/flow.py), kept by `commit`
    # in the same atomic write as each order and audit entry
    def flow_counts(self) -> dict[str, int]:
        """The flow counters summed over every partition (zeros left out)."""
        ...

    def orders_entered(self, status: str, start: datetime | None = None, end: datetime | None = None,
                       limit: int | None = None, by_id: bool = False, offset: int = 0) -> list[tuple[datetime, str]]:
        """(entered_at, order_id) of the orders in `status` that entered it in
        [start, end), by (entered_at, order_id), or by order id; at most
        `limit`, after skipping the first `offset`."""
        ...

    def released_by_need_by(self, limit: int) -> list[tuple[date, str]]:
        """(need_by, order_id) of the Released orders with a need-by date, by (need_by, order_id)."""
        ...

    def held_orders(self, limit: int) -> list[Order]:
        """Orders under an engineering hold, by (the hold's `at` as ISO text, order_id)."""
        ...

    def query_audit(self, project_id: str | None, since: datetime | None, until: datetime | None,
                    limit: int = 1000, continuation: str | None = None) -> Page[AuditEntry]:
        """Oldest first (`at`, ties in write order), `since` inclusive, `until`
        exclusive; pages of at most MAX_PAGE (see Page)."""
        ...

    # --- outbox (the embedded dispatcher; in Cosmos the change feed does this)
    def pending_outbox(self, limit: int = 500) -> list[OutboxEvent]: ...
    def mark_delivered(self, event_ids: Sequence[str], at: datetime) -> None: ...
    def outbox_events(self, subject: str | None = None) -> list[OutboxEvent]: ...
    def stale_outbox(self, before: datetime, limit: int = 500) -> list[OutboxEvent]:
        """Undelivered outbox events of changes made before `before`, each
        project's in the order its changes were committed (Cosmos DB: the
        change feed's order), for the republisher that covers what the change
        feed gave up on."""
        ...

    def purge_expired(self, now: datetime) -> dict[str, int]:
        """Delete what the retention lets go (the embedded store; Cosmos DB
        does it by TTL and answers {}). Counts per kind."""
        ...

    # --- master data
    def get_projects(self, project_ids: Sequence[str]) -> dict[str, Project]: ...
    def put_projects(self, projects: Iterable[Project]) -> int: ...
    def list_projects(self, limit: int = 100, continuation: str | None = None) -> Page[Project]: ...
    def get_catalog(self, skus: Sequence[str]) -> dict[str, CatalogItem]: ...
    def put_catalog(self, items: Iterable[CatalogItem]) -> int: ...

    # --- leases: one holder at a time for work that must not overlap
    def acquire_lease(self, name: str, holder: str, until: datetime, now: datetime) -> str | None:
        """Take lease `name` for `holder` until `until`, or renew it when
        `holder` has it. None: `holder` has it now. Else the holder whose lease
        runs past `now` (it is not taken). An expired lease is taken over."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up, if `holder` still has it."""
        ...

    # --- job runs and quarantine
    def put_job(self, job: JobRun) -> None: ...
    def get_job(self, job_id: str) -> JobRun | None: ...
    def list_jobs(self, limit: int = 50) -> list[JobRun]: ...
    def running_jobs(self, limit: int = 1000) -> list[JobRun]:
        """The runs still `running`, oldest started first, however many
        finished runs are newer (the sweep's dead and overdue checks)."""
        ...
    def put_quarantine(self, record: QuarantineRecord) -> QuarantineRecord: ...
    def get_quarantine(self, record_id: str) -> QuarantineRecord | None: ...
    def list_quarantine(self, status: str | None = None, limit: int = 100,
                        continuation: str | None = None, source: str | None = None) -> Page[QuarantineRecord]:
        """Newest first (`received_at` descending, ties by id); pages of at
        most MAX_PAGE. A record received again after it left `open` moves to
        the front with its new `received_at`. `source` keeps one source's."""
        ...

    # --- replenishment (common/domain/replenishment.py): reorder policies and
    # requests, each warehouse's in the partition `partition_of(warehouse_id)`
    def put_reorder_policies(self, policies: Iterable[ReorderPolicy]) -> int:
        """Upsert by (warehouse_id, sku); a policy gone from the dataset is
        put with `removed` set (kept, not deleted)."""
        ...

    def reorder_policies(self, warehouse_id: str | None = None) -> list[ReorderPolicy]:
        """Policies not removed, by warehouse and SKU."""
        ...

    def replenishment_requests(self, warehouse_id: str | None = None, sku: str | None = None,
                               status: str | None = None) -> list[ReplenishmentRequest]:
        """Requests (with their ETags), by warehouse, SKU and sequence."""
        ...

    def commit_replenishment(self, change: RequestChange) -> ConflictKind | None:
        """The request (created when `change.expected` is None, else replaced
        if it still has that ETag), its audit entry and its outbox event, all
        or nothing. A conflict writes nothing: EXISTS when the request (or
        its entry) exists already, ETAG when it changed since it was read."""
        ...

    # --- incidents (common/domain/incidents.py): one live incident per key,
    # each change written with its audit entry; stakeholder subscriptions
    def open_incident(self, incident: Incident, audit: IncidentAudit) -> tuple[Incident, bool]:
        """Write `incident` and its audit entry, unless an incident with the
        same key is not resolved: then that one, unchanged, and False."""
        ...

    def update_incident(self, incident: Incident, expected: str, audit: IncidentAudit) -> bool:
        """Replace the incident if its ETag is still `expected`, with its audit
        entry, all or nothing (False: it changed, nothing written). Resolving
        frees its key for a new incident. On True `incident.etag` is the new one."""
        ...

    def get_incident(self, incident_id: str) -> Incident | None: ...
    def list_incidents(self, status: str | None = None, market: str | None = None, project_id: str | None = None,
                       limit: int = 100, continuation: str | None = None) -> Page[Incident]:
        """Newest opened first (ties by id); `status` "live" is every one not
        resolved; `market` / `project_id` those whose impact names it."""
        ...

    def incident_audit(self, incident_id: str) -> list[IncidentAudit]:
        """Oldest first, ties in write order."""
        ...

    def put_subscription(self, subscription: Subscription) -> None: ...
    def delete_subscription(self, subscription_id: str) -> bool: ...
    def list_subscriptions(self) -> list[Subscription]: ...


class InventoryStore(Protocol):
    """Stock per (warehouse, SKU) and one reservation per order.

    `available = on_hand - reserved` never goes negative. Reservations are
    idempotent per order: reserving an order that holds a reservation, or
    releasing / consuming one that holds none, changes nothing and says so
    (False). A reservation is all or none: when a line does not fit the
    available stock (a SKU without a stock row has none), `reserve` raises
    `common.domain.errors.InsufficientStock` with the shortfall and changes
    nothing. A snapshot below what is reserved is kept as counted (the row is
    over-reserved, `available < 0`, and takes no new reservation); stale
    snapshot rows (older `as_of`) are skipped. `adjust_on_hand` applies once
    per `adjustment_id` and never takes on-hand below 0. The contract suite is
    tests/adapters/test_inventory_contract.py. In Cosmos DB this is the
    `inventory` container (partition `warehouse_id`): one document per
    (warehouse, SKU), one per reservation.
    """

    def ensure_schema(self) -> None: ...
    def stock(self, warehouse_id: str | None = None) -> list[StockRow]: ...
    def set_on_hand(self, rows: Iterable[tuple[str, str, int]], as_of: datetime) -> int: ...
    def adjust_on_hand(self, warehouse_id: str, sku: str, delta: int, adjustment_id: str) -> bool: ...
    def reserve(self, reservation: Reservation) -> bool: ...
    def batched(self) -> AbstractContextManager[None]:
        """The calls made inside the block are stored together (SQLite: one
        transaction, committed when the block ends, however it ends; Cosmos
        DB: as they come), each still all or none and answering as alone."""
        ...

    def release_reservation(self, order_id: str) -> bool: ...
    def consume_reservation(self, order_id: str) -> bool: ...
    def get_reservation(self, order_id: str) -> Reservation | None: ...
    def reservations(self) -> list[Reservation]: ...


class BlobNotFound(FileNotFoundError):
    """`BlobSource.read` of a blob that does not exist."""

    def __init__(self, container: str, name: str) -> None:
        super().__init__(f"blob {container}/{name} does not exist")
        self.container = container
        self.name = name


class BlobSource(Protocol):
    """Blob Storage, or a local folder: Parquet drops in, snapshots and
    quarantined files out."""

    def read(self, container: str, name: str) -> bytes:
        """The blob's bytes; `BlobNotFound` when there is none."""
        ...

    def write(self, container: str, name: str, data: bytes) -> None: ...
    def exists(self, container: str, name: str) -> bool: ...
    def delete(self, container: str, name: str) -> bool:
        """Remove a blob; False when there was none."""
        ...

    def list(self, container: str, prefix: str = "") -> list[str]: ...
    def local_path(self, container: str, name: str) -> str | None:
        """A path on disk when the blob is a local file (lets Arrow stream it)."""
        ...


class EventPublisher(Protocol):
    """Publishes CloudEvents (already rendered as dicts) to `order-events`."""

    def publish(self, events: Sequence[dict[str, Any]]) -> None: ...
    def close(self) -> None: ...


class Notifier(Protocol):
    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None: ...


class Messenger(Protocol):
    """One message to one stakeholder: `channel` "mail" (an address) or
    "webhook" (a URL). Never raises for a failed delivery (logged)."""

    def send(self, channel: str, address: str, subject: str, body: str, *, level: str = "info",
             data: dict[str, Any] | None = None) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
