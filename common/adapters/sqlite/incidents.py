"""Incidents, their audit entries and stakeholder subscriptions on SQLite
(the incident part of `common.ports.Store`; mixed into SqliteStore).

One incident per key is open at a time: a partial unique index on `key` over
the incidents not resolved makes a second open of the same key fail inside
the transaction, which then hands back the one that is open. An update is
conditional on the ETag read and written in one transaction with its audit
entry.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any

from common.adapters.sqlite.database import SqliteDatabase
from common.adapters.tokens import cursor, cursor_token
from common.domain.incidents import Incident, IncidentAudit, IncidentStatus, Subscription
from common.ports import MAX_PAGE, Page

INCIDENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
  id TEXT PRIMARY KEY, key TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT NOT NULL, etag TEXT NOT NULL,
  doc TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_live_key ON incidents(key) WHERE status != 'resolved';
CREATE INDEX IF NOT EXISTS incidents_opened ON incidents(opened_at, id);
CREATE TABLE IF NOT EXISTS incident_audit (
  id TEXT PRIMARY KEY, incident_id TEXT NOT NULL, at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS incident_audit_incident ON incident_audit(incident_id, at);
CREATE TABLE IF NOT EXISTS incident_subscriptions (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
"""


def _iso(at: datetime) -> str:
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


class SqliteIncidents(SqliteDatabase):
    """Mixed into SqliteStore, whose connection and transactions it uses."""

    def ensure_schema(self) -> None:
        super().ensure_schema()
        with self.transaction() as db:
            for statement in filter(str.strip, INCIDENT_SCHEMA.split(";")):  # executescript would commit
                db.execute(statement)

    @staticmethod
    def _incident(row: tuple[Any, ...]) -> Incident:
        incident = Incident.model_validate_json(row[0])
        incident.etag = row[1]
        return incident

    @staticmethod
    def _audit_row(db: sqlite3.Connection, audit: IncidentAudit) -> None:
        db.execute("INSERT INTO incident_audit (id, incident_id, at, doc) VALUES (?,?,?,?)",
                   (audit.audit_id, audit.incident_id, _iso(audit.at), audit.model_dump_json()))

    def open_incident(self, incident: Incident, audit: IncidentAudit) -> tuple[Incident, bool]:
        etag = secrets.token_hex(8)
        with self.transaction() as db:
            row = db.execute("SELECT doc, etag FROM incidents WHERE key = ? AND status != 'resolved'",
                             (incident.key,)).fetchone()
            if row is not None:
                return self._incident(row), False
            db.execute("INSERT INTO incidents (id, key, status, opened_at, etag, doc) VALUES (?,?,?,?,?,?)",
                       (incident.incident_id, incident.key, incident.status.value, _iso(incident.opened_at), etag,
                        incident.model_dump_json(exclude={"etag"})))
            self._audit_row(db, audit)
        incident.etag = etag
        return incident, True

    def update_incident(self, incident: Incident, expected: str, audit: IncidentAudit) -> bool:
        etag = secrets.token_hex(8)
        with self.transaction() as db:
            cur = db.execute("UPDATE incidents SET status = ?, etag = ?, doc = ? WHERE id = ? AND etag = ?",
                             (incident.status.value, etag, incident.model_dump_json(exclude={"etag"}),
                              incident.incident_id, expected))
            if cur.rowcount != 1:
                return False
            self._audit_row(db, audit)
        incident.etag = etag
        return True

    def get_incident(self, incident_id: str) -> Incident | None:
        rows = self._rows("SELECT doc, etag FROM incidents WHERE id = ?", (incident_id,))
        return self._incident(rows[0]) if rows else None

    def list_incidents(self, status: str | None = None, market: str | None = None, project_id: str | None = None,
                       limit: int = 100, continuation: str | None = None) -> Page[Incident]:
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if status == "live":
            where.append("status != ?")
            params.append(IncidentStatus.RESOLVED.value)
        elif status is not None:
            where.append("status = ?")
            params.append(status)
        if market is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(doc, '$.impact.markets') m "
                         "WHERE json_extract(m.value, '$.market') = ?)")
            params.append(market)
        if project_id is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(doc, '$.impact.projects') p "
                         "WHERE json_extract(p.value, '$.project_id') = ?)")
            params.append(project_id)
        if continuation:
            key = cursor("incidents", continuation)  # "<opened_at>|<id>"
            opened, _, after = key.partition("|") if isinstance(key, str) else ("", "", "")
            if not (opened and after):
                raise ValueError("not a continuation token")
            where.append("(opened_at < ? OR (opened_at = ? AND id > ?))")
            params += [opened, opened, after]
        limit = max(1, min(int(limit), MAX_PAGE))
        rows = self._rows(f"SELECT doc, etag, opened_at, id FROM incidents WHERE {' AND '.join(where)} "
                          "ORDER BY opened_at DESC, id LIMIT ?", (*params, limit + 1))
        items = [self._incident(r) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        token = None if last is None else cursor_token("incidents", f"{last[2]}|{last[3]}")
        return Page(items=items, continuation=token)

    def incident_audit(self, incident_id: str) -> list[IncidentAudit]:
        rows = self._rows("SELECT doc FROM incident_audit WHERE incident_id = ? ORDER BY at, rowid", (incident_id,))
        return [IncidentAudit.model_validate_json(r[0]) for r in rows]

    def put_subscription(self, subscription: Subscription) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO incident_subscriptions (id, doc) VALUES (?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                       (subscription.subscription_id, subscription.model_dump_json()))

    def delete_subscription(self, subscription_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM incident_subscriptions WHERE id = ?", (subscription_id,)).rowcount == 1

    def list_subscriptions(self) -> list[Subscription]:
        rows = self._rows("SELECT doc FROM incident_subscriptions ORDER BY id")
        return [Subscription.model_validate_json(r[0]) for r in rows]


__all__ = ["INCIDENT_SCHEMA", "SqliteIncidents"]
