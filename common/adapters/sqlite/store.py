"""The embedded store: SQLite (stdlib), WAL mode, documents as JSON.

Documents keep the shapes they have in Cosmos DB; a few columns are copied
out of them for lookups and filters. One `commit` is one SQLite transaction,
with a savepoint per partition so that a conflicting partition is undone
alone (the same contract the Cosmos adapter keeps with one transactional
batch per partition).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from common.adapters.sqlite.database import SqliteDatabase
from common.adapters.sqlite.incidents import SqliteIncidents
from common.adapters.sqlite.replenishment import SqliteReplenishment
from common.adapters.tokens import cursor, cursor_token
from common.domain import flow
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
ALL_STATUSES = frozenset(s.value for s in OrderStatus)

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, stream_id TEXT NOT NULL, status TEXT NOT NULL,
  kind TEXT NOT NULL, site_code TEXT NOT NULL, market TEXT, updated_at TEXT NOT NULL,
  etag TEXT NOT NULL, doc TEXT NOT NULL, since TEXT, need_by TEXT, hold_at TEXT, flow TEXT);
CREATE INDEX IF NOT EXISTS orders_project ON orders(project_id);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status, id);
CREATE INDEX IF NOT EXISTS orders_updated ON orders(updated_at);
CREATE TABLE IF NOT EXISTS streams (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, parked INTEGER NOT NULL, etag TEXT NOT NULL,
  doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS streams_parked ON streams(project_id) WHERE parked = 1;
CREATE TABLE IF NOT EXISTS audit (
  id TEXT PRIMARY KEY, order_id TEXT, project_id TEXT NOT NULL, at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_order ON audit(order_id, at);
CREATE INDEX IF NOT EXISTS audit_project ON audit(project_id, at);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL,
  project_id TEXT NOT NULL, delivered_at TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE delivered_at IS NULL;
CREATE INDEX IF NOT EXISTS outbox_subject ON outbox(subject);
CREATE TABLE IF NOT EXISTS markers (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, outcome TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalog (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, started_at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_started ON jobs(started_at);
CREATE INDEX IF NOT EXISTS jobs_running ON jobs(started_at) WHERE json_extract(doc, '$.status') = 'running';
CREATE TABLE IF NOT EXISTS quarantine (
  id TEXT PRIMARY KEY, status TEXT NOT NULL, received_at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS quarantine_received ON quarantine(received_at);
CREATE INDEX IF NOT EXISTS quarantine_status ON quarantine(status, received_at);
CREATE INDEX IF NOT EXISTS quarantine_source ON quarantine(json_extract(doc, '$.source'), received_at);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at TEXT NOT NULL);
"""

# The order-flow aggregate (common/domain/flow.py): the counters, and the
# columns the metrics read single orders by (an order's `entered_at` stamp,
# its need-by date, its engineering hold, and the counters it added, which its
# next write takes back). After the ALTERs of a store made before them.
FLOW_SCHEMA = """
CREATE TABLE IF NOT EXISTS flow (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_since ON orders(status, since, id);
-- The work queue's "longest waiting first" over every state (OrderQuery.sort).
CREATE INDEX IF NOT EXISTS orders_since_any ON orders(since, id);
DROP INDEX IF EXISTS orders_entered;
DROP INDEX IF EXISTS orders_need_by;
CREATE INDEX IF NOT EXISTS orders_status_need_by ON orders(status, need_by, id) WHERE need_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS orders_hold ON orders(hold_at, id) WHERE hold_at IS NOT NULL;
"""
FLOW_COLUMNS = ("since", "need_by", "hold_at", "flow")
_BUILT = "_built"  # the flow row saying the counters cover every order and audit entry
# The order columns copied out of the document for indexes and filters (updated_at aside: it always moves).
_INDEXED = ("status", "kind", "market", "since", "need_by", "hold_at")

_CHUNK = 500  # stays under SQLite's host-parameter limit


class _Conflict(Exception):
    def __init__(self, kind: ConflictKind) -> None:
        self.kind = kind


@dataclass
class _Stored:
    """ETags of the stored documents a commit replaces, and the orders' flow counters."""

    orders: dict[str, str] = field(default_factory=dict)
    streams: dict[str, str] = field(default_factory=dict)
    flow: dict[str, str | None] = field(default_factory=dict)
    # The indexed columns as stored: a write that leaves them as they are
    # rewrites the document alone, and leaves their index entries in place.
    columns: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def _conflict_of(part: PartitionChanges, stored: _Stored) -> ConflictKind | None:
    """The partition's first write that cannot happen: a create of a document
    that exists, or a replace of one whose ETag moved on (orders, then streams)."""
    for docs, writes in ((stored.orders, part.orders), (stored.streams, part.streams)):
        for key, write in writes.items():
            etag = docs.get(key)
            if write.expected is None and etag is not None:
                return ConflictKind.EXISTS
            if write.expected is not None and etag != write.expected:
                return ConflictKind.ETAG
    return None


def _add_flow(db: sqlite3.Connection, counts: dict[str, int]) -> None:
    db.executemany("INSERT INTO flow (key, n) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET n = n + excluded.n",
                   [(k, n) for k, n in counts.items() if n])


def _from_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)  # flow.stamp's "...Z" reads back as UTC


def new_etag() -> str:
    return secrets.token_hex(8)


def _new_etags(n: int) -> Iterator[str]:
    """`n` new ETags (as `new_etag`'s), from one read of the random source."""
    text = secrets.token_hex(8 * n)
    return (text[i:i + 16] for i in range(0, 16 * n, 16))


_EXCLUDED: dict[type[BaseModel], set[str] | None] = {}


def _dump(model: BaseModel) -> str:
    """The stored document: once, straight to JSON, without the fields at
    their defaults (reading it back restores them; a third of an order's bytes,
    half of an audit entry's, the bulk of what every event writes). The
    serializer's own call: `model_dump_json` with these arguments, without
    looking up the model's fields for every document."""
    cls = type(model)
    if cls in _EXCLUDED:
        exclude = _EXCLUDED[cls]
    else:
        exclude = _EXCLUDED[cls] = {"etag"} if "etag" in cls.model_fields else None
    return model.__pydantic_serializer__.to_json(model, exclude=exclude, exclude_defaults=True).decode()


def _iso(at: datetime) -> str:
    # Stored and compared as text: one spelling per instant (UTC; naive means
    # UTC) keeps range filters right whatever offset a caller passes.
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def _cursor(kind: str, token: str, types: tuple[type, ...]) -> list[Any]:
    key: list[Any] = cursor(kind, token, types)
    return key


def _page_size(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


class SqliteStore(SqliteIncidents, SqliteReplenishment, SqliteDatabase):
    """`common.ports.Store` on SQLite. Safe to share between threads."""

    schema = SCHEMA

    def __init__(self, path: str | Path = ":memory:", retention: Retention | None = None) -> None:
        super().__init__(path)
        self.retention = retention or Retention()

    def ensure_schema(self) -> None:
        super().ensure_schema()
        self._flow_ready()

    def _docs_by_id(self, table: str, model: type[M], ids: Sequence[str], etag: bool) -> dict[str, M]:
        out: dict[str, M] = {}
        unique = list(dict.fromkeys(ids))
        cols = "id, doc, etag" if etag else "id, doc"
        for chunk in _chunks(unique):
            marks = ",".join("?" * len(chunk))
            for row in self._rows(f"SELECT {cols} FROM {table} WHERE id IN ({marks})", chunk):
                doc = model.model_validate_json(row[1])
                if etag:
                    doc.etag = row[2]  # type: ignore[attr-defined]
                out[row[0]] = doc
        return out

    # ------------------------------------------------------ order partition
    def get_order(self, order_id: str) -> Order | None:
        return self.get_orders([order_id]).get(order_id)

    def get_orders(self, order_ids: Sequence[str]) -> dict[str, Order]:
        return self._docs_by_id("orders", Order, order_ids, etag=True)

    def get_streams(self, stream_ids: Sequence[str]) -> dict[str, Stream]:
        return self._docs_by_id("streams", Stream, stream_ids, etag=True)

    def parked_streams(self, project_ids: Sequence[str]) -> list[Stream]:
        out = []
        for chunk in _chunks(list(dict.fromkeys(project_ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._rows(f"SELECT doc, etag FROM streams WHERE parked = 1 AND project_id IN ({marks})",
                              chunk)
            for doc, etag in rows:
                stream = Stream.model_validate_json(doc)
                stream.etag = etag
                out.append(stream)
        return sorted(out, key=lambda s: s.stream_id)

    def existing_markers(self, markers: Sequence[tuple[str, str]]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(m for _, m in markers))):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._rows(f"SELECT id FROM markers WHERE id IN ({marks})", chunk))
        return found

    def commit(self, changes: Sequence[PartitionChanges]) -> CommitResult:
        """One transaction. The partitions are written together, one
        `executemany` per table, after one read per table of the ETags (and
        flow counters) of the documents they replace; a partition whose
        documents changed or exist is left out with its conflict. Should a
        write still fail (two partitions of one commit inserting one id), the
        partitions are written again one by one, each undone alone."""
        result = CommitResult()
        parts = [p for p in changes if not p.is_empty()]
        written: list[tuple[Any, str]] = []
        with self.transaction() as db:
            stored = self._stored(db, parts)
            ready = []
            for part in parts:
                kind = _conflict_of(part, stored)
                if kind is None:
                    ready.append(part)
                else:
                    result.conflicts[part.partition] = kind
            groups = [ready] if len(ready) > 1 else [[p] for p in ready]
            while groups:
                group = groups.pop()
                db.execute("SAVEPOINT part")
                try:
                    written.extend(self._write(db, group, stored))
                except _Conflict as conflict:
                    db.execute("ROLLBACK TO part")
                    if len(group) > 1:
                        groups.extend([p] for p in group)
                    else:
                        result.conflicts[group[0].partition] = conflict.kind
                db.execute("RELEASE part")
        for doc, etag in written:  # the caller's copies now carry the stored ETags
            doc.etag = etag
        return result

    def _stored(self, db: sqlite3.Connection, parts: Sequence[PartitionChanges]) -> _Stored:
        """ETags (and flow counters) of the stored orders and streams the
        partitions write: one read per table, under the write lock."""
        stored = _Stored()
        order_ids = [oid for p in parts for oid in p.orders]
        for chunk in _chunks(order_ids):
            marks = ",".join("?" * len(chunk))
            for oid, etag, counts, *columns in db.execute(
                    f"SELECT id, etag, flow, {', '.join(_INDEXED)} FROM orders WHERE id IN ({marks})", chunk):
                stored.orders[oid] = etag
                stored.flow[oid] = counts
                stored.columns[oid] = tuple(columns)
        stream_ids = [sid for p in parts for sid in p.streams]
        for chunk in _chunks(stream_ids):
            marks = ",".join("?" * len(chunk))
            stored.streams.update(db.execute(f"SELECT id, etag FROM streams WHERE id IN ({marks})", chunk))
        return stored

    def _write(self, db: sqlite3.Connection, parts: Sequence[PartitionChanges],
               stored: _Stored) -> list[tuple[Any, str]]:
        """Write `parts` (checked by `_conflict_of`) with one statement per
        table, the flow counters' change with them; _Conflict when a write
        fails after all (the caller undoes it)."""
        written: list[tuple[Any, str]] = []
        new_orders, old_orders, same_orders, new_streams, old_streams = [], [], [], [], []
        counts: dict[str, int] = {}
        etags = _new_etags(sum(len(p.orders) + len(p.streams) for p in parts))
        for part in parts:
            for write in part.orders.values():
                order, etag = write.doc, next(etags)
                since = flow.stamp(flow.entered(order))
                own = flow.order_counts(order, since)
                flow.add(counts, own)
                need_by = order.need_by.isoformat() if order.need_by is not None else None
                hold = order.engineering_hold.at.isoformat() if order.engineering_hold is not None else None
                if write.expected is None:
                    new_orders.append((order.order_id, order.project_id, order.stream_id, order.status.value,
                                       order.kind.value, order.site_code, order.market, _iso(order.updated_at),
                                       etag, _dump(order), since, need_by, hold, flow.encode(own)))
                else:
                    before = stored.flow.get(order.order_id)
                    if before:
                        flow.add(counts, flow.decode(before), -1)
                    indexed = (order.status.value, order.kind.value, order.market, since, need_by, hold)
                    if stored.columns.get(order.order_id) == indexed:
                        same_orders.append((_iso(order.updated_at), etag, _dump(order), flow.encode(own),
                                            order.order_id, write.expected))
                    else:
                        old_orders.append((*indexed, _iso(order.updated_at), etag, _dump(order), flow.encode(own),
                                           order.order_id, write.expected))
                written.append((order, etag))
            for swrite in part.streams.values():
                stream, etag = swrite.doc, next(etags)
                parked = 1 if stream.parked is not None else 0
                if swrite.expected is None:
                    new_streams.append((stream.stream_id, stream.project_id, parked, etag, _dump(stream)))
                else:
                    old_streams.append((parked, etag, _dump(stream), stream.stream_id, swrite.expected))
                written.append((stream, etag))
            for entry in part.audit:
                flow.add(counts, flow.audit_counts(entry))
        try:
            db.executemany(
                "INSERT INTO orders (id, project_id, stream_id, status, kind, site_code, market, updated_at, etag, "
                "doc, since, need_by, hold_at, flow) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", new_orders)
            cur = db.executemany(f"UPDATE orders SET {'=?, '.join(_INDEXED)}=?, updated_at=?, etag=?, doc=?, flow=? "
                                 "WHERE id=? AND etag=?", old_orders)
            if cur.rowcount != len(old_orders):
                raise _Conflict(ConflictKind.ETAG)
            cur = db.executemany("UPDATE orders SET updated_at=?, etag=?, doc=?, flow=? WHERE id=? AND etag=?",
                                 same_orders)
            if cur.rowcount != len(same_orders):
                raise _Conflict(ConflictKind.ETAG)
            db.executemany("INSERT INTO streams (id, project_id, parked, etag, doc) VALUES (?,?,?,?,?)", new_streams)
            cur = db.executemany("UPDATE streams SET parked=?, etag=?, doc=? WHERE id=? AND etag=?", old_streams)
            if cur.rowcount != len(old_streams):
                raise _Conflict(ConflictKind.ETAG)
            db.executemany("INSERT INTO markers (id, project_id, outcome, at) VALUES (?,?,?,?)",
                           [(m.marker_id, m.project_id, m.outcome, _iso(m.at)) for p in parts for m in p.markers])
            db.executemany("INSERT INTO audit (id, order_id, project_id, at, doc) VALUES (?,?,?,?,?)",
                           [(a.audit_id, a.order_id, a.project_id, _iso(a.at), _dump(a))
                            for p in parts for a in p.audit])
            db.executemany("INSERT INTO outbox (id, subject, project_id, delivered_at, doc) VALUES (?,?,?,?,?)",
                           [(e.id, e.subject, e.project_id, None, _dump(e)) for p in parts for e in p.outbox])
        except sqlite3.IntegrityError as error:
            raise _Conflict(ConflictKind.EXISTS) from error
        _add_flow(db, counts)
        return written

    # ---------------------------------------------------------- flow metrics
    def _flow_ready(self) -> None:
        """Add the flow columns to a store made before them, and count what
        it holds once (common/domain/flow.py: every counter is a function of
        one document, so the first count is a plain recount)."""
        with self.transaction() as db:
            columns = {row[1] for row in db.execute("PRAGMA table_info(orders)")}
            for column in FLOW_COLUMNS:
                if column not in columns:
                    db.execute(f"ALTER TABLE orders ADD COLUMN {column} TEXT")
            for statement in filter(str.strip, FLOW_SCHEMA.split(";")):  # executescript would commit
                db.execute(statement)
            if db.execute("SELECT 1 FROM flow WHERE key = ?", (_BUILT,)).fetchone() is not None:
                return
            db.execute("DELETE FROM flow")
            counts: dict[str, int] = {}
            rows = []
            for oid, doc in db.execute("SELECT id, doc FROM orders"):
                order = Order.model_validate_json(doc)
                since = flow.stamp(flow.entered(order))
                own = flow.order_counts(order, since)
                flow.add(counts, own)
                rows.append((since,
                             order.need_by.isoformat() if order.need_by is not None else None,
                             order.engineering_hold.at.isoformat() if order.engineering_hold is not None else None,
                             flow.encode(own), oid))
            db.executemany("UPDATE orders SET since=?, need_by=?, hold_at=?, flow=? WHERE id=?", rows)
            for (doc,) in db.execute("SELECT doc FROM audit"):
                flow.add(counts, flow.audit_counts(AuditEntry.model_validate_json(doc)))
            _add_flow(db, {**counts, _BUILT: 1})

    def flow_counts(self) -> dict[str, int]:
        return {k: n for k, n in self._rows("SELECT key, n FROM flow") if n and k != _BUILT}

    def orders_entered(self, status: str, start: datetime | None = None, end: datetime | None = None,
                       limit: int | None = None, by_id: bool = False, offset: int = 0) -> list[tuple[datetime, str]]:
        where, params = ["status = ?"], [status]
        if start is not None:
            where.append("since >= ?")
            params.append(flow.stamp(start))
        if end is not None:
            where.append("since < ?")
            params.append(flow.stamp(end))
        sql = f"SELECT since, id FROM orders WHERE {' AND '.join(where)} ORDER BY {'id' if by_id else 'since, id'}"
        if limit is not None or offset:
            sql += f" LIMIT {-1 if limit is None else max(0, int(limit))} OFFSET {max(0, int(offset))}"
        return [(_from_stamp(since), oid) for since, oid in self._rows(sql, params)]

    def released_by_need_by(self, limit: int) -> list[tuple[date, str]]:
        rows = self._rows("SELECT need_by, id FROM orders WHERE status = 'Released' AND need_by IS NOT NULL "
                          "ORDER BY need_by, id LIMIT ?", (max(0, int(limit)),))
        return [(date.fromisoformat(need_by), oid) for need_by, oid in rows]

    def held_orders(self, limit: int) -> list[Order]:
        rows = self._rows("SELECT doc, etag FROM orders WHERE hold_at IS NOT NULL ORDER BY hold_at, id LIMIT ?",
                          (max(0, int(limit)),))
        out = []
        for doc, etag in rows:
            order = Order.model_validate_json(doc)
            order.etag = etag
            out.append(order)
        return out

    @staticmethod
    def _order_filters(query: OrderQuery) -> tuple[list[str], list[Any]]:
        where, params = ["1=1"], []
        for column, value in (("status", query.status), ("project_id", query.project_id),
                              ("site_code", query.site_code), ("market", query.market), ("kind", query.kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.updated_since is not None:
            where.append("updated_at >= ?")
            params.append(_iso(query.updated_since))
        if query.entered_before is not None:
            # `since` is the fixed-width stamp of when the order entered its
            # status. One range per cutoff, and none on the status when every
            # status shares it: then "longest waiting first" walks orders_since_any.
            by_cutoff: dict[str, list[str]] = {}
            for status, before in query.entered_before.items():
                by_cutoff.setdefault(flow.stamp(before), []).append(status)
            terms = []
            for cutoff, statuses in by_cutoff.items():
                if set(statuses) >= ALL_STATUSES:
                    terms.append("since < ?")
                    params.append(cutoff)
                else:
                    terms.append(f"(since < ? AND status IN ({','.join('?' * len(statuses))}))")
                    params += [cutoff, *statuses]
            where.append(f"({' OR '.join(terms) or '0'})")
        return where, params

    def query_orders(self, query: OrderQuery) -> Page[Order]:
        rows, continuation = self._order_page(query)
        items = []
        for doc, etag in rows:
            order = Order.model_validate_json(doc)
            order.etag = etag
            items.append(order)
        return Page(items=items, continuation=continuation)

    def query_order_docs(self, query: OrderQuery) -> Page[dict[str, Any]]:
        # orjson: a fifth of what validating the order costs, and what the list then serializes is a dict.
        rows, continuation = self._order_page(query)
        items = []
        for doc, etag in rows:
            found: dict[str, Any] = orjson.loads(doc)
            found["etag"] = etag
            items.append(found)
        return Page(items=items, continuation=continuation)

    def _order_page(self, query: OrderQuery) -> tuple[list[tuple[str, str]], str | None]:
        """The (doc, etag) rows of a page of orders, and the next page's token."""
        where, params = self._order_filters(query)
        by_entered = query.sort == "entered"
        if query.continuation and by_entered:
            entered, after = _cursor("orders-entered", query.continuation, (str, str))
            where.append("(since, id) > (?, ?)")
            params += [entered, after]
        elif query.continuation:
            where.append("id > ?")
            params.append(cursor("orders", query.continuation))
        limit = max(1, min(query.limit, 1000))
        order_by = "since, id" if by_entered else "id"
        rows = self._rows("SELECT doc, etag, id, since FROM orders "
                          f"WHERE {' AND '.join(where)} ORDER BY {order_by} LIMIT ?", (*params, limit + 1))
        last = rows[limit - 1] if len(rows) > limit else None
        if last is None:
            continuation = None
        elif by_entered:
            continuation = cursor_token("orders-entered", [last[3], last[2]])
        else:
            continuation = cursor_token("orders", last[2])
        return [(doc, etag) for doc, etag, _, _entered in rows[:limit]], continuation

    def count_orders(self, query: OrderQuery) -> dict[str, int]:
        if query.entered_before is None:
            where, params = self._order_filters(query)
            rows = self._rows(f"SELECT status, COUNT(*) FROM orders WHERE {' AND '.join(where)} GROUP BY status",
                              tuple(params))
            return {status: int(count) for status, count in rows}
        # One count per status: each a range of orders_since (status, since).
        counts = {}
        for status, before in query.entered_before.items():
            if query.status is None or query.status == status:
                where, params = self._order_filters(replace(query, status=status, entered_before={status: before}))
                count = self._rows(f"SELECT COUNT(*) FROM orders WHERE {' AND '.join(where)}", tuple(params))[0][0]
                if count:
                    counts[status] = int(count)
        return counts

    def order_audit(self, order_id: str) -> list[AuditEntry]:
        rows = self._rows("SELECT doc FROM audit WHERE order_id = ? ORDER BY at, rowid", (order_id,))
        return [AuditEntry.model_validate_json(r[0]) for r in rows]

    def query_audit(self, project_id: str | None, since: datetime | None, until: datetime | None,
                    limit: int = 1000, continuation: str | None = None) -> Page[AuditEntry]:
        # Ties of `at` go in write order: the rowid (audit rows are insert-only
        # and the store is never VACUUMed, so a rowid never changes).
        where, params = ["1=1"], []
        if project_id is not None:
            where.append("project_id = ?")
            params.append(project_id)
        if since is not None:
            where.append("at >= ?")
            params.append(_iso(since))
        if until is not None:
            where.append("at < ?")
            params.append(_iso(until))
        if continuation:
            at, seq = _cursor("audit", continuation, (str, int))
            where.append("at >= ? AND (at > ? OR rowid > ?)")  # the first term bounds the index range
            params += [at, at, seq]
        limit = _page_size(limit)
        rows = self._rows(f"SELECT doc, at, rowid FROM audit WHERE {' AND '.join(where)} "
                          "ORDER BY at, rowid LIMIT ?", (*params, limit + 1))
        items = [AuditEntry.model_validate_json(r[0]) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return Page(items=items, continuation=None if last is None else cursor_token("audit", [last[1], last[2]]))

    # ---------------------------------------------------------------- outbox
    def pending_outbox(self, limit: int = 500) -> list[OutboxEvent]:
        rows = self._rows("SELECT doc FROM outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT ?", (limit,))
        return [OutboxEvent.model_validate_json(r[0]) for r in rows]

    def mark_delivered(self, event_ids: Sequence[str], at: datetime) -> None:
        with self.transaction() as db:
            db.executemany("UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                           [(_iso(at), i) for i in event_ids])

    def stale_outbox(self, before: datetime, limit: int = 500) -> list[OutboxEvent]:
        # The embedded dispatcher publishes everything pending; these are the
        # pending events older than `before`, in commit order (seq).
        cutoff = _iso(before)
        out: list[OutboxEvent] = []
        for event in self.pending_outbox(max(int(limit), 1) * 4):
            if _iso(event.time) < cutoff:
                out.append(event)
            if len(out) >= limit:
                break
        return out

    def purge_expired(self, now: datetime) -> dict[str, int]:
        kept = self.retention
        counts: dict[str, int] = {}
        with self.transaction() as db:
            for name, days, sql in (
                ("markers", kept.marker_days, "DELETE FROM markers WHERE at < ?"),
                ("outbox", kept.outbox_days, "DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?"),
                # From when a run ended (as Cosmos DB's TTL counts from the last
                # write): a run marked abandoned today is kept its full retention.
                ("jobs", kept.job_days,
                 "DELETE FROM jobs WHERE json_extract(doc, '$.status') != 'running' AND "
                 "julianday(COALESCE(json_extract(doc, '$.ended_at'), started_at)) < julianday(?)"),
                ("quarantine", kept.quarantine_days,
                 "DELETE FROM quarantine WHERE status != 'open' AND received_at < ?"),
            ):
                if days > 0:
                    counts[name] = db.execute(sql, (_iso(now - timedelta(days=days)),)).rowcount
        return counts

    def outbox_events(self, subject: str | None = None) -> list[OutboxEvent]:
        if subject is None:
            rows = self._rows("SELECT doc, delivered_at FROM outbox ORDER BY seq")
        else:
            rows = self._rows("SELECT doc, delivered_at FROM outbox WHERE subject = ? ORDER BY seq", (subject,))
        out = []
        for doc, delivered in rows:
            event = OutboxEvent.model_validate_json(doc)
            event.delivered_at = datetime.fromisoformat(delivered) if delivered else None
            out.append(event)
        return out

    # ----------------------------------------------------------- master data
    def get_projects(self, project_ids: Sequence[str]) -> dict[str, Project]:
        return self._docs_by_id("projects", Project, project_ids, etag=False)

    def put_projects(self, projects: Iterable[Project]) -> int:
        # Serialized: documents made in bulk by ingestion, written as they are.
        if isinstance(projects, Serialized):  # the rows straight from the two lists, no list of tuples made
            rows: Iterable[tuple[str, str]] = zip(projects.ids, projects.texts, strict=True)
            count = len(projects.ids)
        else:
            made = [(p.project_id, p.model_dump_json()) for p in projects]
            rows, count = made, len(made)
        with self.transaction(bulk=isinstance(projects, Serialized)) as db:
            db.executemany("INSERT INTO projects (id, doc) VALUES (?, ?) "
                           "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc", rows)
        return count

    def list_projects(self, limit: int = 100, continuation: str | None = None) -> Page[Project]:
        after = cursor("projects", continuation) if continuation else ""
        rows = self._rows("SELECT id, doc FROM projects WHERE id > ? ORDER BY id LIMIT ?", (after, limit + 1))
        items = [Project.model_validate_json(doc) for _, doc in rows[:limit]]
        return Page(items=items, continuation=cursor_token("projects", rows[limit - 1][0]) if len(rows) > limit
                    else None)

    def get_catalog(self, skus: Sequence[str]) -> dict[str, CatalogItem]:
        return self._docs_by_id("catalog", CatalogItem, skus, etag=False)

    def put_catalog(self, items: Iterable[CatalogItem]) -> int:
        rows = (list(zip(items.ids, items.texts, strict=True)) if isinstance(items, Serialized)
                else [(i.sku, i.model_dump_json()) for i in items])
        with self.transaction(bulk=isinstance(items, Serialized)) as db:
            db.executemany("INSERT INTO catalog (id, doc) VALUES (?, ?) "
                           "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc", rows)
        return len(rows)

    # -------------------------------------------------------------- leases
    def acquire_lease(self, name: str, holder: str, until: datetime, now: datetime) -> str | None:
        with self.transaction() as db:  # BEGIN IMMEDIATE: one process decides at a time
            row = db.execute("SELECT holder, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != holder and row[1] > _iso(now):
                return str(row[0])
            db.execute("INSERT INTO leases (name, holder, expires_at) VALUES (?,?,?) ON CONFLICT(name) DO UPDATE "
                       "SET holder = excluded.holder, expires_at = excluded.expires_at", (name, holder, _iso(until)))
        return None

    def release_lease(self, name: str, holder: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    # ------------------------------------------------- job runs, quarantine
    def put_job(self, job: JobRun) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO jobs (id, started_at, doc) VALUES (?,?,?) "
                       "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                       (job.job_id, _iso(job.started_at), job.model_dump_json()))

    def get_job(self, job_id: str) -> JobRun | None:
        rows = self._rows("SELECT doc FROM jobs WHERE id = ?", (job_id,))
        return JobRun.model_validate_json(rows[0][0]) if rows else None

    def list_jobs(self, limit: int = 50) -> list[JobRun]:
        rows = self._rows("SELECT doc FROM jobs ORDER BY started_at DESC, id DESC LIMIT ?", (limit,))
        return [JobRun.model_validate_json(r[0]) for r in rows]

    def running_jobs(self, limit: int = 1000) -> list[JobRun]:
        rows = self._rows("SELECT doc FROM jobs WHERE json_extract(doc, '$.status') = 'running' "
                          "ORDER BY started_at, id LIMIT ?", (limit,))
        return [JobRun.model_validate_json(r[0]) for r in rows]

    def put_quarantine(self, record: QuarantineRecord) -> QuarantineRecord:
        with self.transaction() as db:
            row = db.execute("SELECT doc FROM quarantine WHERE id = ?", (record.id,)).fetchone()
            if row is not None:
                # The same bad input again (redelivery): one record, counted.
                old = QuarantineRecord.model_validate_json(row[0])
                if record.status == "open" and old.status == "open":
                    record = record.model_copy(update={"attempts": old.attempts + 1,
                                                       "received_at": old.received_at})
            # The sort column follows the document: a record received again
            # after it left `open` lists with its new time (as in Cosmos DB).
            db.execute("INSERT INTO quarantine (id, status, received_at, doc) VALUES (?,?,?,?) "
                       "ON CONFLICT(id) DO UPDATE SET status = excluded.status, "
                       "received_at = excluded.received_at, doc = excluded.doc",
                       (record.id, record.status, _iso(record.received_at), record.model_dump_json()))
        return record

    def get_quarantine(self, record_id: str) -> QuarantineRecord | None:
        rows = self._rows("SELECT doc FROM quarantine WHERE id = ?", (record_id,))
        return QuarantineRecord.model_validate_json(rows[0][0]) if rows else None

    def list_quarantine(self, status: str | None = None, limit: int = 100,
                        continuation: str | None = None, source: str | None = None) -> Page[QuarantineRecord]:
        where, params = ["1=1"], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if source is not None:
            where.append("json_extract(doc, '$.source') = ?")
            params.append(source)
        if continuation:
            received, record_id = _cursor("quarantine", continuation, (str, str))
            where.append("received_at <= ? AND (received_at < ? OR id > ?)")
            params += [received, received, record_id]
        limit = _page_size(limit)
        rows = self._rows(f"SELECT doc, received_at, id FROM quarantine WHERE {' AND '.join(where)} "
                          "ORDER BY received_at DESC, id LIMIT ?", (*params, limit + 1))
        items = [QuarantineRecord.model_validate_json(r[0]) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        token = None if last is None else cursor_token("quarantine", [last[1], last[2]])
        return Page(items=items, continuation=token)
