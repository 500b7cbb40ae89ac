"""`common.ports.Store` on Azure Cosmos DB (NoSQL API).

Containers and partition keys (DESIGN.md section 4): `orders` (/project_id:
orders, streams, audit entries, outbox events and idempotency markers, see
documents.py), `projects` (/project_id), `catalog` (/sku), `jobs` (/job_id),
`quarantine` (/id). One partition's changes are one transactional batch:
creates for new documents, audit entries, outbox events and markers;
replaces with if-match on the ETag read for updates. A batch failing on an
existing document is ConflictKind.EXISTS, on a changed one ConflictKind.ETAG.

Reads of orders and streams are point reads, or single-partition queries,
keyed by the project id that every order and stream id starts with. The
queries that fan out across partitions serve listings (the API), the
idempotency check of a whole delivery batch (one query per batch: a marker
id does not name its project), and the embedded-style outbox methods that the
change feed makes unnecessary in Azure.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from azure.cosmos import ContainerProxy, CosmosClient, exceptions
from pydantic import BaseModel

from common.adapters.cosmos import documents as d
from common.adapters.cosmos.batching import Op, execute_batch, plan
from common.adapters.cosmos.client import connection_from_settings, get_client, with_retry
from common.adapters.cosmos.database import CosmosDatabase
from common.adapters.cosmos.incidents import CosmosIncidents
from common.adapters.cosmos.replenishment import CosmosReplenishment
from common.adapters.cosmos.schema import containers, ensure_containers
from common.adapters.tokens import cursor, cursor_token
from common.config import Settings
from common.domain import flow
from common.domain.ids import project_of
from common.domain.models import (
    AuditEntry,
    CatalogItem,
    JobRun,
    Order,
    OrderStatus,
    OutboxEvent,
    Project,
    QuarantineRecord,
    Stream,
)
from common.domain.serialized import Serialized
from common.ports import MAX_PAGE, CommitResult, ConflictKind, OrderQuery, Page, PartitionChanges, Retention

M = TypeVar("M", bound=BaseModel)

# name -> partition key path (containers.json); `leases` is the change feed's (the Functions host writes it).
CONTAINERS: dict[str, str] = {name: spec["partitionKey"] for name, spec in containers().items()}
STORE_CONTAINERS = ["orders", "projects", "catalog", "jobs", "quarantine", "leases", "incidents"]
_CHUNK = 200  # ids per ARRAY_CONTAINS query
_WRITERS = 8  # parallel upserts of master data


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _cursor(kind: str, token: str) -> str:
    """The `x_sort` (or other string key) a token of this list named."""
    key: str = cursor(kind, token, str)
    return key


def _sorted_page(docs: list[dict[str, Any]], kind: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """The first `limit` of the documents (a `TOP limit + 1 ... ORDER BY
    c.x_sort` answer) and the token after them. Sorted again here: cheap, and
    the page's order then does not hang on how the client merged the
    partitions' answers."""
    docs.sort(key=lambda doc: doc["x_sort"])
    page = docs[:limit]
    return page, cursor_token(kind, page[-1]["x_sort"]) if len(docs) > limit else None


class CosmosStore(CosmosIncidents, CosmosReplenishment, CosmosDatabase):
    """The store on Cosmos DB. Shares the process's client; safe to share between threads."""

    def __init__(self, client: CosmosClient | Callable[[], CosmosClient], database: str,
                 retention: Retention | None = None) -> None:
        super().__init__(client, database)
        self.retention = retention or Retention()
        self._seq_lock = threading.Lock()
        self._last_seq = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> CosmosStore:
        """No I/O: the client is made on first use (never at import)."""
        conn = connection_from_settings(settings)
        return cls(lambda: get_client(conn), settings.cosmos_database, Retention.from_settings(settings))

    def container(self, name: str) -> ContainerProxy:
        return self.container_client(name)

    def ensure_schema(self) -> None:
        """Create the database and containers when missing, as containers.json
        describes them (emulators). In Azure they are provisioned by infra/ from
        the same file and the identity may not create them; reading them then
        is all this does."""
        ensure_containers(self._client_factory(), self.database_name, STORE_CONTAINERS)

    def ping(self) -> bool:
        try:
            with_retry(lambda: self.db.read(), attempts=min(2, self.attempts))
        except Exception:
            return False
        return True

    def close(self) -> None:
        """The client belongs to the process (client.close_clients ends it)."""

    # ------------------------------------------------------------- helpers
    def _query(self, container: str, sql: str, params: dict[str, Any] | None = None,
               partition: str | None = None) -> list[dict[str, Any]]:
        parameters = [{"name": k, "value": v} for k, v in (params or {}).items()]
        proxy = self.container(container)

        def run() -> list[dict[str, Any]]:
            if partition is not None:
                return list(proxy.query_items(sql, parameters=parameters, partition_key=partition))
            return list(proxy.query_items(sql, parameters=parameters, enable_cross_partition_query=True))

        return self.retry(run)

    def _point(self, container: str, item: str, partition: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.retry(lambda: self.container(container).read_item(item, partition))
        except exceptions.CosmosResourceNotFoundError:
            return None
        return found

    def _next_seq(self) -> int:
        """Write order of audit and outbox documents (ties of equal times)."""
        with self._seq_lock:
            self._last_seq = max(time.time_ns(), self._last_seq + 1)
            return self._last_seq

    def _by_natural_id(self, kind: str, key: str, model: type[M], ids: Sequence[str]) -> dict[str, M]:
        out: dict[str, M] = {}
        by_project: dict[str, list[str]] = {}
        for natural in dict.fromkeys(ids):
            by_project.setdefault(project_of(natural), []).append(natural)
        for project, wanted in by_project.items():
            if len(wanted) == 1:
                doc = self._point("orders", d.doc_id(kind, wanted[0]), project)
                docs = [doc] if doc is not None and doc.get("type") == kind else []
            else:
                docs = []
                for chunk in _chunks(wanted):
                    docs += self._query(
                        "orders", f"SELECT * FROM c WHERE c.project_id = @p AND c.type = @t "
                        f"AND ARRAY_CONTAINS(@ids, c.{key})", {"@p": project, "@t": kind, "@ids": chunk}, project)
            for doc in docs:
                out[doc[key]] = d.from_doc(model, doc)
        return out

    # ------------------------------------------------------ order partition
    def get_order(self, order_id: str) -> Order | None:
        return self.get_orders([order_id]).get(order_id)

    def get_orders(self, order_ids: Sequence[str]) -> dict[str, Order]:
        return self._by_natural_id(d.ORDER, "order_id", Order, order_ids)

    def get_streams(self, stream_ids: Sequence[str]) -> dict[str, Stream]:
        return self._by_natural_id(d.STREAM, "stream_id", Stream, stream_ids)

    def parked_streams(self, project_ids: Sequence[str]) -> list[Stream]:
        # Master-data path, not per event: one query per chunk of projects
        # beats one per project when a first dump brings thousands of them.
        docs: list[dict[str, Any]] = []
        for chunk in _chunks(list(dict.fromkeys(project_ids))):
            docs += self._query("orders", "SELECT * FROM c WHERE c.type = @t AND c.x_parked = true "
                                "AND ARRAY_CONTAINS(@p, c.project_id)", {"@p": chunk, "@t": d.STREAM})
        return sorted((d.from_doc(Stream, doc) for doc in docs), key=lambda s: s.stream_id)

    def existing_markers(self, markers: Sequence[tuple[str, str]]) -> set[str]:
        # On every batch's path: single-partition queries, one per project.
        by_partition: dict[str, list[str]] = {}
        for partition, marker in dict.fromkeys(markers):
            by_partition.setdefault(partition, []).append(marker)
        found: set[str] = set()
        for partition, wanted in by_partition.items():
            for chunk in _chunks(wanted):
                docs = self._query("orders", "SELECT c.marker_id FROM c WHERE c.project_id = @p AND c.type = @t "
                                   "AND ARRAY_CONTAINS(@ids, c.marker_id)",
                                   {"@p": partition, "@t": d.MARKER, "@ids": chunk}, partition)
                found.update(doc["marker_id"] for doc in docs)
        return found

    def commit(self, changes: Sequence[PartitionChanges]) -> CommitResult:
        result = CommitResult()
        for part in changes:
            if part.is_empty():
                continue
            conflict = self._commit_partition(part)
            if conflict is not None:
                result.conflicts[part.partition] = conflict
        return result

    def _operations(self, part: PartitionChanges, before: dict[str, flow.Counts] | None = None) -> list[Op]:
        """The partition's writes; each order and audit entry with what it
        changes of the flow counters (`before`: the replaced orders' counts)."""
        before = before or {}
        ops: list[Op] = []
        marker_ttl = Retention.seconds(self.retention.marker_days)
        for marker in part.markers:
            body = d.to_doc(marker, d.MARKER, marker.marker_id)
            if marker_ttl:
                body["ttl"] = marker_ttl
            ops.append(Op(("create", (body,)), [f"event:{marker.event_id}"]))
        for swrite in part.streams.values():
            stream = swrite.doc
            body = d.to_doc(stream, d.STREAM, stream.stream_id, x_parked=stream.parked is not None)
            ops.append(self._write(body, swrite.expected, stream, [f"stream:{stream.stream_id}"]))
        for owrite in part.orders.values():
            order = owrite.doc
            body = d.to_doc(order, d.ORDER, order.order_id, x_updated=d.epoch(order.updated_at),
                            x_entered=d.entered_sort_key(order.status_since or order.created_at, order.order_id))
            hold, need_by = order.engineering_hold, order.need_by
            if hold is not None:
                body["x_hold"] = f"{hold.at.isoformat()}|{order.order_id}"
            if order.status == OrderStatus.RELEASED and need_by is not None:
                body["x_need_by"] = f"{need_by.isoformat()}|{order.order_id}"
            op = self._write(body, owrite.expected, order, [f"order:{order.order_id}", f"stream:{order.stream.id}"])
            op.flow = flow.delta(before.get(order.order_id) if owrite.expected is not None else None, order)
            ops.append(op)
        for entry in part.audit:
            seq = self._next_seq()
            body = d.to_doc(entry, d.AUDIT, entry.audit_id, x_at=d.epoch(entry.at), x_seq=seq,
                            x_sort=d.audit_sort_key(entry.at, seq, entry.audit_id))
            labels = [f"order:{entry.order_id}"] if entry.order_id else []
            labels += [f"stream:{entry.stream_id}"] if entry.stream_id else []
            labels += [f"event:{entry.correlation_id}"] if entry.correlation_id else []
            ops.append(Op(("create", (body,)), labels, flow=flow.audit_counts(entry) or None))
        for event in part.outbox:
            body = d.outbox_doc(event, event.id, event.subject, event.project_id, x_seq=self._next_seq(),
                                x_time=d.epoch(event.time), x_delivered=event.delivered_at is not None)
            ops.append(Op(("create", (body,)), [f"order:{event.subject}"]))
        return ops

    @staticmethod
    def _write(body: dict[str, Any], expected: str | None, model: Any, labels: list[str]) -> Op:
        if expected is None:
            return Op(("create", (body,)), labels, model=model)
        return Op(("replace", (body["id"], body), {"if_match_etag": expected}), labels, model=model,
                  conditional=True)

    # ---------------------------------------------------------- flow metrics
    def _replaced_counts(self, part: PartitionChanges) -> dict[str, flow.Counts]:
        """The flow counts of the orders the partition replaces, as stored (one
        query; a stored order that moved on fails the batch's if-match anyway)."""
        ids = [oid for oid, write in part.orders.items() if write.expected is not None]
        out: dict[str, flow.Counts] = {}
        for chunk in _chunks(ids):
            for doc in self._query("orders", "SELECT * FROM c WHERE c.project_id = @p AND c.type = @t "
                                   "AND ARRAY_CONTAINS(@ids, c.order_id)",
                                   {"@p": part.partition, "@t": d.ORDER, "@ids": chunk}, part.partition):
                out[doc["order_id"]] = flow.order_counts(d.from_doc(Order, doc))
        return out

    def _flow_doc(self, partition: str) -> tuple[flow.Counts, str | None]:
        """The partition's flow counters and their ETag; a partition without
        the document (new, or written before it existed) is counted once."""
        doc = self._point("orders", d.doc_id(d.FLOW, partition), partition)
        if doc is not None and doc.get("type") == d.FLOW:
            return dict(doc.get("counts") or {}), doc["_etag"]
        orders = self._query("orders", "SELECT * FROM c WHERE c.project_id = @p AND c.type = @t",
                             {"@p": partition, "@t": d.ORDER}, partition)
        audit = self._query("orders", "SELECT * FROM c WHERE c.project_id = @p AND c.type = @t",
                            {"@p": partition, "@t": d.AUDIT}, partition)
        return flow.recount((d.from_doc(Order, o) for o in orders), (d.from_doc(AuditEntry, a) for a in audit)), None

    def _flow_op(self, partition: str, counts: flow.Counts, etag: str | None) -> tuple[Any, ...]:
        body = {"id": d.doc_id(d.FLOW, partition), "type": d.FLOW, "project_id": partition,
                "counts": {k: n for k, n in counts.items() if n}}
        if etag is None:
            return ("create", (body,))
        return ("replace", (body["id"], body), {"if_match_etag": etag})

    def flow_counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for doc in self._query("orders", "SELECT c.counts FROM c WHERE c.type = @t", {"@t": d.FLOW}):
            flow.add(total, doc.get("counts") or {})
        return {k: n for k, n in total.items() if n}

    def orders_entered(self, status: str, start: datetime | None = None, end: datetime | None = None,
                       limit: int | None = None, by_id: bool = False, offset: int = 0) -> list[tuple[datetime, str]]:
        # x_entered starts with the fixed-width entry time: a time range is a text range.
        where, params = ["c.type = @t", "c.status = @s"], {"@t": d.ORDER, "@s": status}
        if start is not None:
            where.append("c.x_entered >= @start")
            params["@start"] = d.sort_time(start)
        if end is not None:
            where.append("c.x_entered < @end")
            params["@end"] = d.sort_time(end)
        offset = max(0, int(offset))
        # TOP of offset + limit, skipped here: OFFSET is not served everywhere (a cross-partition query
        # answers each partition's first ones, merged).
        top = f"TOP {offset + max(0, int(limit))} " if limit is not None else ""
        key = "order_id" if by_id else "x_entered"
        docs = self._query("orders", f"SELECT {top}c.x_entered, c.order_id FROM c WHERE {' AND '.join(where)} "
                           f"ORDER BY c.{key}", params)
        docs.sort(key=lambda doc: doc[key])  # as merged from the partitions: sorted here again
        return [(datetime.fromisoformat(doc["x_entered"].split("|")[0]).replace(tzinfo=UTC), doc["order_id"])
                for doc in docs[offset:]]

    def released_by_need_by(self, limit: int) -> list[tuple[date, str]]:
        docs = self._query("orders", f"SELECT TOP {max(0, int(limit))} c.x_need_by FROM c WHERE c.type = @t "
                           "AND c.x_need_by > '' ORDER BY c.x_need_by", {"@t": d.ORDER})
        keys = sorted(doc["x_need_by"] for doc in docs)
        return [(date.fromisoformat(k.split("|")[0]), k.split("|", 1)[1]) for k in keys]

    def held_orders(self, limit: int) -> list[Order]:
        docs = self._query("orders", f"SELECT TOP {max(0, int(limit))} * FROM c WHERE c.type = @t "
                           "AND c.x_hold > '' ORDER BY c.x_hold", {"@t": d.ORDER})
        docs.sort(key=lambda doc: doc["x_hold"])
        return [d.from_doc(Order, doc) for doc in docs]

    def _commit_partition(self, part: PartitionChanges) -> ConflictKind | None:
        container = self.container("orders")
        operations = self._operations(part, self._replaced_counts(part))
        strays = sorted({str(op.operation[1][-1].get("project_id")) for op in operations
                         if op.operation[1][-1].get("project_id") != part.partition})
        if strays:
            # Cosmos DB refuses such a batch whole (400); say which write is misplaced instead.
            raise ValueError(f"documents of partition(s) {', '.join(strays)} "
                             f"in the batch of partition {part.partition}")
        counts, etag = self._flow_doc(part.partition)
        for batch in plan(operations):
            # Each batch carries its own change of the flow counters, so a
            # partition split in batches keeps them exact batch by batch.
            change: flow.Counts = {}
            for op in batch:
                if op.flow:
                    flow.add(change, op.flow)
            sends = [op.operation for op in batch]
            if any(change.values()):
                after = dict(counts)
                flow.add(after, change)
                sends.append(self._flow_op(part.partition, after, etag))
            results = execute_batch(self.retry, container, sends, part.partition)
            if isinstance(results, ConflictKind):
                return results
            for op, outcome in zip(batch, results, strict=False):
                if op.model is not None:
                    op.model.etag = _etag_of(outcome)
            if len(sends) > len(batch):
                counts, etag = after, _etag_of(results[len(batch)])
        return None

    @staticmethod
    def _order_filters(query: OrderQuery) -> tuple[list[str], dict[str, Any]]:
        where, params = ["c.type = @t"], {"@t": d.ORDER}
        for column, value in (("status", query.status), ("project_id", query.project_id),
                              ("site_code", query.site_code), ("market", query.market), ("kind", query.kind)):
            if value is not None:
                where.append(f"c.{column} = @{column}")
                params[f"@{column}"] = value
        if query.updated_since is not None:
            where.append("c.x_updated >= @since")
            params["@since"] = d.epoch(query.updated_since)  # type: ignore[assignment]
        if query.entered_before is not None:
            # x_entered starts with the fixed-width entry time: "entered before
            # T" is "x_entered < T" as text.
            terms = []
            for n, (status, before) in enumerate(query.entered_before.items()):
                terms.append(f"(c.status = @es{n} AND c.x_entered < @eb{n})")
                params[f"@es{n}"], params[f"@eb{n}"] = status, d.sort_time(before)
            where.append(f"({' OR '.join(terms) or 'false'})")
        return where, params

    def query_orders(self, query: OrderQuery) -> Page[Order]:
        where, params = self._order_filters(query)
        key = "x_entered" if query.sort == "entered" else "order_id"
        if query.continuation:
            where.append(f"c.{key} > @after")
            params["@after"] = _cursor("orders-entered" if key == "x_entered" else "orders", query.continuation)
        limit = max(1, min(query.limit, 1000))
        docs = self._query("orders", f"SELECT TOP {limit + 1} * FROM c WHERE {' AND '.join(where)} "
                           f"ORDER BY c.{key}", params, query.project_id)
        # Sorted again here, as the other lists: the page's order must not hang
        # on how the client merged the partitions' answers.
        docs.sort(key=lambda doc: doc[key])
        items = [d.from_doc(Order, doc) for doc in docs[:limit]]
        last = docs[limit - 1] if len(docs) > limit else None
        if last is None:
            continuation = None
        else:
            continuation = cursor_token("orders-entered" if key == "x_entered" else "orders", last[key])
        return Page(items=items, continuation=continuation)

    def query_order_docs(self, query: OrderQuery) -> Page[dict[str, Any]]:
        # The documents hold Cosmos DB's fields beside the order's: read as orders, handed on as JSON.
        page = self.query_orders(query)
        return Page(items=[o.model_dump(mode="json") for o in page.items], continuation=page.continuation)

    def count_orders(self, query: OrderQuery) -> dict[str, int]:
        # One COUNT per status: cross-partition GROUP BY is not served everywhere.
        where, params = self._order_filters(query)
        statuses = [query.status] if query.status else [s.value for s in OrderStatus]
        counts = {}
        for status in statuses:
            found = self._query("orders", f"SELECT VALUE COUNT(1) FROM c WHERE {' AND '.join(where)} "
                                "AND c.status = @count_status", {**params, "@count_status": status},
                                query.project_id)
            total = sum(int(n) for n in found)  # type: ignore[call-overload]
            if total:
                counts[status] = total
        return counts

    def _audit(self, docs: list[dict[str, Any]]) -> list[AuditEntry]:
        docs.sort(key=lambda doc: (doc.get("x_at", 0), doc.get("x_seq", 0)))
        return [d.from_doc(AuditEntry, doc) for doc in docs]

    def order_audit(self, order_id: str) -> list[AuditEntry]:
        project = project_of(order_id)
        return self._audit(self._query(
            "orders", "SELECT * FROM c WHERE c.project_id = @p AND c.type = @t AND c.order_id = @o",
            {"@p": project, "@t": d.AUDIT, "@o": order_id}, project))

    def query_audit(self, project_id: str | None, since: datetime | None, until: datetime | None,
                    limit: int = 1000, continuation: str | None = None) -> Page[AuditEntry]:
        # One range on x_sort does the time window and the cursor: it starts
        # with the fixed-width time, so "at >= since" is "x_sort >= since".
        where, params = ["c.type = @t", "c.x_sort > @after"], {"@t": d.AUDIT, "@after": ""}
        if project_id is not None:
            where.append("c.project_id = @p")
            params["@p"] = project_id
        if since is not None:
            where.append("c.x_sort >= @since")
            params["@since"] = d.sort_time(since)
        if until is not None:
            where.append("c.x_sort < @until")
            params["@until"] = d.sort_time(until)
        if continuation:
            params["@after"] = _cursor("audit", continuation)
        limit = max(1, min(int(limit), MAX_PAGE))
        docs = self._query("orders", f"SELECT TOP {limit + 1} * FROM c WHERE {' AND '.join(where)} "
                           "ORDER BY c.x_sort", params, project_id)
        page, token = _sorted_page(docs, "audit", limit)
        return Page(items=[d.from_doc(AuditEntry, doc) for doc in page], continuation=token)

    # ---------------------------------------------------------------- outbox
    @staticmethod
    def _outbox(docs: list[dict[str, Any]]) -> list[OutboxEvent]:
        docs.sort(key=lambda doc: doc.get("x_seq", 0))
        return [d.outbox_event(OutboxEvent, doc) for doc in docs]

    def pending_outbox(self, limit: int = 500) -> list[OutboxEvent]:
        return self._outbox(self._query(
            "orders", f"SELECT TOP {max(1, int(limit))} * FROM c WHERE c.type = @t AND c.x_delivered = false "
            "ORDER BY c.x_seq", {"@t": d.OUTBOX}))

    def mark_delivered(self, event_ids: Sequence[str], at: datetime) -> None:
        """One read and one transactional batch per project and hundred
        events: the documents get `x_delivered` (so the change feed, which
        hands them over once more, skips them) and the retention's TTL."""
        by_project: dict[str, list[str]] = {}
        for event_id in dict.fromkeys(event_ids):
            by_project.setdefault(project_of(event_id), []).append(d.doc_id(d.OUTBOX, event_id))
        for project, ids in by_project.items():
            for chunk in _chunks(ids, 100):
                self._mark_chunk(project, chunk, at)

    def _mark_chunk(self, project: str, ids: list[str], at: datetime) -> None:
        container = self.container("orders")
        ttl = Retention.seconds(self.retention.outbox_days)
        for _attempt in range(5):
            docs = self._query("orders", "SELECT * FROM c WHERE c.project_id = @p AND c.type = @t "
                               "AND ARRAY_CONTAINS(@ids, c.id)", {"@p": project, "@t": d.OUTBOX, "@ids": ids},
                               project)
            operations = []
            for doc in docs:
                if doc.get("x_delivered"):
                    continue
                event = d.outbox_event(OutboxEvent, doc).model_copy(update={"delivered_at": at})
                body = d.outbox_doc(event, event.id, event.subject, event.project_id, x_seq=doc.get("x_seq", 0),
                                    x_time=doc.get("x_time"), x_delivered=True)
                if ttl:
                    body["ttl"] = ttl
                operations.append(("replace", (doc["id"], body), {"if_match_etag": doc["_etag"]}))
            if not operations:
                return
            try:
                self.retry(lambda ops=operations: container.execute_item_batch(  # type: ignore[misc]
                    ops, partition_key=project))
                return
            except exceptions.CosmosBatchOperationError as error:
                if error.status_code not in (404, 412):
                    raise
                # changed or expired meanwhile: read again

    def stale_outbox(self, before: datetime, limit: int = 500) -> list[OutboxEvent]:
        """Found by one cross-partition query (the republisher's, every few
        minutes, not on any event's path); then, per project, its partition's
        change feed from just before the oldest of them: the commit order."""
        found = self._query("orders", "SELECT c.project_id, c._ts FROM c WHERE c.type = @t AND c.x_delivered = false "
                            "AND c.x_time < @before", {"@t": d.OUTBOX, "@before": d.epoch(before)})
        oldest: dict[str, int] = {}
        for doc in found:
            oldest[doc["project_id"]] = min(int(doc["_ts"]), oldest.get(doc["project_id"], int(doc["_ts"])))
        events: list[OutboxEvent] = []
        container = self.container("orders")
        for project in sorted(oldest):
            start = datetime.fromtimestamp(oldest[project] - 1, tz=UTC)
            feed = self.retry(lambda p=project, t=start: list(container.query_items_change_feed(  # type: ignore[misc]
                partition_key=p, start_time=t)))
            for doc in feed:
                if (doc.get("type") == d.OUTBOX and not doc.get("x_delivered")
                        and float(doc.get("x_time") or 0) < d.epoch(before)):
                    events.append(d.outbox_event(OutboxEvent, doc))
            if len(events) >= limit:
                break
        return events

    def purge_expired(self, now: datetime) -> dict[str, int]:
        return {}  # the containers' TTL does it

    def outbox_events(self, subject: str | None = None) -> list[OutboxEvent]:
        if subject is None:
            return self._outbox(self._query("orders", "SELECT * FROM c WHERE c.type = @t", {"@t": d.OUTBOX}))
        project = project_of(subject)
        return self._outbox(self._query(
            "orders", "SELECT * FROM c WHERE c.project_id = @p AND c.type = @t AND c.subject = @s",
            {"@p": project, "@t": d.OUTBOX, "@s": subject}, project))

    # ----------------------------------------------------------- master data
    def _get_wrapped(self, container: str, key: str, model: type[M], ids: Sequence[str]) -> dict[str, M]:
        # Point reads (ReadMany), never a cross-partition query: this is on
        # every event batch's path (the projects and SKUs the batch names).
        wanted = list(dict.fromkeys(ids))
        out: dict[str, M] = {}
        if len(wanted) == 1:
            doc = self._point(container, d.doc_id("", wanted[0])[1:], wanted[0])
            docs = [doc] if doc is not None else []
        else:
            proxy = self.container(container)
            docs = []
            for chunk in _chunks(wanted, 1000):
                docs += self.retry(lambda c=chunk: list(proxy.read_items(  # type: ignore[misc]
                    [(d.doc_id("", natural)[1:], natural) for natural in c])))
        for doc in docs:
            out[doc[key]] = d.unwrap(model, doc)
        return out

    def _upsert_all(self, container: str, bodies: Iterable[dict[str, Any]]) -> int:
        proxy = self.container(container)
        count = 0

        def upsert(body: dict[str, Any]) -> None:
            self.retry(lambda: proxy.upsert_item(body))

        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            iterator = iter(bodies)
            while chunk := list(itertools.islice(iterator, 1000)):
                list(pool.map(upsert, chunk))
                count += len(chunk)
        return count

    def _list_wrapped(self, container: str, key: str, model: type[M], limit: int,
                      continuation: str | None) -> Page[M]:
        after = _cursor(container, continuation) if continuation else ""
        limit = max(1, int(limit))
        docs = self._query(container, f"SELECT TOP {limit + 1} * FROM c WHERE c.{key} > @after ORDER BY c.{key}",
                           {"@after": after})
        items = [d.unwrap(model, doc) for doc in docs[:limit]]
        token = cursor_token(container, docs[limit - 1][key]) if len(docs) > limit else None
        return Page(items=items, continuation=token)

    def get_projects(self, project_ids: Sequence[str]) -> dict[str, Project]:
        return self._get_wrapped("projects", "project_id", Project, project_ids)

    def put_projects(self, projects: Iterable[Project]) -> int:
        if isinstance(projects, Serialized):  # documents made in bulk by ingestion: no model each
            return self._upsert_all("projects", (d.wrap_json(text, i, project_id=i)
                                                 for i, text in zip(projects.ids, projects.texts, strict=True)))
        return self._upsert_all("projects", (d.wrap(p, p.project_id, project_id=p.project_id) for p in projects))

    def list_projects(self, limit: int = 100, continuation: str | None = None) -> Page[Project]:
        return self._list_wrapped("projects", "project_id", Project, limit, continuation)

    def get_catalog(self, skus: Sequence[str]) -> dict[str, CatalogItem]:
        return self._get_wrapped("catalog", "sku", CatalogItem, skus)

    def put_catalog(self, items: Iterable[CatalogItem]) -> int:
        if isinstance(items, Serialized):
            return self._upsert_all("catalog", (d.wrap_json(text, i, sku=i)
                                                for i, text in zip(items.ids, items.texts, strict=True)))
        return self._upsert_all("catalog", (d.wrap(i, i.sku, sku=i.sku) for i in items))

    # -------------------------------------------------------------- leases
    # In the `leases` container beside the change feed's own lease documents
    # (their ids start with the trigger's prefix; ours with "oms.lease.").
    def acquire_lease(self, name: str, holder: str, until: datetime, now: datetime) -> str | None:
        container = self.container("leases")
        lease_id = f"oms.lease.{name}"
        body = {"id": lease_id, "holder": holder, "expires_at": d.epoch(until), "name": name}
        for _ in range(5):
            doc = self._point("leases", lease_id, lease_id)
            if doc is not None and doc.get("holder") != holder and float(doc.get("expires_at", 0)) > d.epoch(now):
                return str(doc["holder"])
            try:
                if doc is None:
                    self.retry(lambda: container.create_item(body))
                else:
                    self.retry(lambda e=doc["_etag"]: container.replace_item(  # type: ignore[misc]
                        lease_id, body, etag=e, match_condition=_if_match()))
                return None
            except (exceptions.CosmosResourceExistsError, exceptions.CosmosAccessConditionFailedError):
                continue  # another process wrote it between the read and the write: decide again
        doc = self._point("leases", lease_id, lease_id)
        return str(doc["holder"]) if doc is not None else holder

    def release_lease(self, name: str, holder: str) -> None:
        lease_id = f"oms.lease.{name}"
        doc = self._point("leases", lease_id, lease_id)
        if doc is None or doc.get("holder") != holder:
            return
        # Taken over or gone already: nothing to give up.
        with contextlib.suppress(exceptions.CosmosResourceNotFoundError, exceptions.CosmosAccessConditionFailedError):
            self.retry(lambda: self.container("leases").delete_item(
                lease_id, lease_id, etag=doc["_etag"], match_condition=_if_match()))

    # ------------------------------------------------- job runs, quarantine
    def put_job(self, job: JobRun) -> None:
        body = d.wrap(job, job.job_id, job_id=job.job_id, x_started=d.epoch(job.started_at))
        ttl = Retention.seconds(self.retention.job_days)
        if ttl and job.status != "running":
            body["ttl"] = ttl
        self.retry(lambda: self.container("jobs").upsert_item(body))

    def get_job(self, job_id: str) -> JobRun | None:
        doc = self._point("jobs", d.doc_id("", job_id)[1:], job_id)
        return d.unwrap(JobRun, doc) if doc is not None else None

    def list_jobs(self, limit: int = 50) -> list[JobRun]:
        docs = self._query("jobs", f"SELECT TOP {max(1, int(limit))} * FROM c ORDER BY c.x_started DESC")
        jobs = [d.unwrap(JobRun, doc) for doc in docs]
        jobs.sort(key=lambda j: (d.epoch(j.started_at), j.job_id), reverse=True)
        return jobs

    def running_jobs(self, limit: int = 1000) -> list[JobRun]:
        docs = self._query("jobs", f"SELECT TOP {max(1, int(limit))} * FROM c WHERE c.body.status = @s "
                                   "ORDER BY c.x_started", {"@s": "running"})
        jobs = [d.unwrap(JobRun, doc) for doc in docs]
        jobs.sort(key=lambda j: (d.epoch(j.started_at), j.job_id))
        return jobs

    def put_quarantine(self, record: QuarantineRecord) -> QuarantineRecord:
        container = self.container("quarantine")
        item = d.doc_id("", record.id)[1:]
        for _attempt in range(5):
            old_doc = self._point("quarantine", item, record.id)
            stored = record
            if old_doc is not None:
                old = d.unwrap(QuarantineRecord, old_doc)
                if record.status == "open" and old.status == "open":
                    # The same bad input again (redelivery): one record, counted.
                    stored = record.model_copy(update={"attempts": old.attempts + 1,
                                                       "received_at": old.received_at})
            body = d.wrap(stored, stored.id, status=stored.status, source=stored.source,
                          x_received=d.epoch(stored.received_at),
                          x_sort=d.quarantine_sort_key(stored.received_at, stored.id))
            ttl = Retention.seconds(self.retention.quarantine_days)
            if ttl and stored.status != "open":
                body["ttl"] = ttl
            try:
                if old_doc is None:
                    self.retry(lambda b=body: container.create_item(b))  # type: ignore[misc]
                else:
                    self.retry(lambda b=body, e=old_doc["_etag"]: container.replace_item(  # type: ignore[misc]
                        b["id"], b, etag=e, match_condition=_if_match()))
                return stored
            except (exceptions.CosmosResourceExistsError, exceptions.CosmosAccessConditionFailedError):
                continue  # a concurrent writer got there first: read again
        raise RuntimeError(f"quarantine record {record.id} kept changing; not written")

    def get_quarantine(self, record_id: str) -> QuarantineRecord | None:
        doc = self._point("quarantine", d.doc_id("", record_id)[1:], record_id)
        return d.unwrap(QuarantineRecord, doc) if doc is not None else None

    def list_quarantine(self, status: str | None = None, limit: int = 100,
                        continuation: str | None = None, source: str | None = None) -> Page[QuarantineRecord]:
        # Ascending x_sort is newest first (d.quarantine_sort_key).
        where, params = ["c.x_sort > @after"], {"@after": _cursor("quarantine", continuation) if continuation else ""}
        if status is not None:
            where.append("c.status = @s")
            params["@s"] = status
        if source is not None:
            where.append("c.source = @source")
            params["@source"] = source
        limit = max(1, min(int(limit), MAX_PAGE))
        docs = self._query("quarantine", f"SELECT TOP {limit + 1} * FROM c WHERE {' AND '.join(where)} "
                           "ORDER BY c.x_sort", params)
        page, token = _sorted_page(docs, "quarantine", limit)
        return Page(items=[d.unwrap(QuarantineRecord, doc) for doc in page], continuation=token)


def _etag_of(outcome: Any) -> str | None:
    found = outcome.get("eTag") or (outcome.get("resourceBody") or {}).get("_etag")
    return str(found) if found else None


def _if_match() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified


