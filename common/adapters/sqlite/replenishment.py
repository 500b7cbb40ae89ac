"""Reorder policies and replenishment requests on SQLite: the Store port's
replenishment methods, mixed into `SqliteStore`.

A request is written in one transaction with its audit entry and its outbox
event (rows of the store's `audit` and `outbox` tables, as an order's), so
the outbox dispatcher publishes it like any order event and a crash never
leaves a request without its event or the other way round.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from common.adapters.sqlite.database import SqliteDatabase
from common.domain.replenishment import ReorderPolicy, ReplenishmentRequest, RequestChange
from common.ports import ConflictKind

SCHEMA = """
CREATE TABLE IF NOT EXISTS reorder_policies (
  warehouse_id TEXT NOT NULL, sku TEXT NOT NULL, removed INTEGER NOT NULL, doc TEXT NOT NULL,
  PRIMARY KEY (warehouse_id, sku));
CREATE TABLE IF NOT EXISTS replenishment (
  id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, sku TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
  etag TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS replenishment_key ON replenishment(warehouse_id, sku, seq);
CREATE INDEX IF NOT EXISTS replenishment_status ON replenishment(status, warehouse_id, sku);
"""


class _Lost(Exception):
    def __init__(self, kind: ConflictKind) -> None:
        self.kind = kind


class SqliteReplenishment(SqliteDatabase):
    """Mixed into SqliteStore: its database, its audit and outbox tables."""

    def ensure_schema(self) -> None:
        super().ensure_schema()
        with self.transaction() as db:
            for statement in filter(str.strip, SCHEMA.split(";")):
                db.execute(statement)

    # ------------------------------------------------------------ policies
    def put_reorder_policies(self, policies: Iterable[ReorderPolicy]) -> int:
        rows = [(p.warehouse_id, p.sku, int(p.removed), p.model_dump_json()) for p in policies]
        with self.transaction() as db:
            db.executemany("INSERT INTO reorder_policies (warehouse_id, sku, removed, doc) VALUES (?,?,?,?) "
                           "ON CONFLICT(warehouse_id, sku) DO UPDATE SET removed = excluded.removed, "
                           "doc = excluded.doc", rows)
        return len(rows)

    def reorder_policies(self, warehouse_id: str | None = None) -> list[ReorderPolicy]:
        sql = "SELECT doc FROM reorder_policies WHERE removed = 0"
        rows = (self._rows(sql + " ORDER BY warehouse_id, sku") if warehouse_id is None
                else self._rows(sql + " AND warehouse_id = ? ORDER BY sku", (warehouse_id,)))
        return [ReorderPolicy.model_validate_json(r[0]) for r in rows]

    # ------------------------------------------------------------ requests
    def replenishment_requests(self, warehouse_id: str | None = None, sku: str | None = None,
                               status: str | None = None) -> list[ReplenishmentRequest]:
        where, params = ["1=1"], []
        for column, value in (("warehouse_id", warehouse_id), ("sku", sku), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self._rows(f"SELECT doc, etag FROM replenishment WHERE {' AND '.join(where)} "
                          "ORDER BY warehouse_id, sku, seq", params)
        out = []
        for doc, etag in rows:
            request = ReplenishmentRequest.model_validate_json(doc)
            request.etag = etag
            out.append(request)
        return out

    def commit_replenishment(self, change: RequestChange) -> ConflictKind | None:
        from common.adapters.sqlite.store import _dump, _iso, new_etag  # the store module imports this one

        request, etag = change.request, new_etag()
        doc, entry, event = _dump(request), change.audit, change.outbox
        try:
            with self.transaction() as db:
                if change.expected is None:
                    try:
                        db.execute("INSERT INTO replenishment (id, warehouse_id, sku, seq, status, etag, doc) "
                                   "VALUES (?,?,?,?,?,?,?)", (request.request_id, request.warehouse_id, request.sku,
                                                              request.seq, request.status.value, etag, doc))
                    except sqlite3.IntegrityError as error:
                        raise _Lost(ConflictKind.EXISTS) from error
                else:
                    cur = db.execute("UPDATE replenishment SET status = ?, etag = ?, doc = ? WHERE id = ? AND etag = ?",
                                     (request.status.value, etag, doc, request.request_id, change.expected))
                    if cur.rowcount != 1:
                        raise _Lost(ConflictKind.ETAG)
                try:
                    db.execute("INSERT INTO audit (id, order_id, project_id, at, doc) VALUES (?,?,?,?,?)",
                               (entry.audit_id, entry.order_id, entry.project_id, _iso(entry.at), _dump(entry)))
                    db.execute("INSERT INTO outbox (id, subject, project_id, delivered_at, doc) VALUES (?,?,?,?,?)",
                               (event.id, event.subject, event.project_id, None, _dump(event)))
                except sqlite3.IntegrityError as error:
                    raise _Lost(ConflictKind.EXISTS) from error
        except _Lost as lost:  # the transaction was rolled back: nothing of the change is written
            return lost.kind
        request.etag = etag
        return None
