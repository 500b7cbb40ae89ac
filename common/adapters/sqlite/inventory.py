"""Stock and reservations on SQLite: `common.ports.InventoryStore`.

It lives in the same database file as `SqliteStore` but opens its own
connection (WAL, busy timeout), so it is safe between threads (one lock per
instance) and between processes (every write is `BEGIN IMMEDIATE`, which
takes the database write lock before reading what it will change).

Rules this adapter keeps (the contract suite holds every adapter to them):
- `reserve` is all-or-none and idempotent per order: an order that holds a
  reservation is not reserved again (False); a reservation that does not fit
  raises `InsufficientStock` and changes nothing. A reservation never makes
  `available` negative.
- `release_reservation` puts the reserved units back; `consume_reservation`
  takes them out of on-hand and reserved (the warehouse shipped them). Both
  answer False, changing nothing, for an order that holds no reservation.
- A stock snapshot (`set_on_hand`) is the warehouse's count and is kept as
  counted, even when it is below what is reserved: the row is then
  over-reserved (`available < 0`), which is the flag. Nothing more is
  reserved from it, the allocation treats its available as 0, and it heals
  as reservations are consumed or released or stock arrives. A snapshot row
  older than the row's `as_of` is stale and skipped. Negative on-hand is
  refused (ValueError): the ingest quarantines such rows before they get here.
- `adjust_on_hand` applies a `StockAdjusted` once per `adjustment_id`; on-hand
  never goes below 0.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from common.adapters.sqlite.database import SqliteDatabase
from common.domain.errors import InsufficientStock
from common.domain.models import Reservation, StockRow

SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
  warehouse_id TEXT NOT NULL, sku TEXT NOT NULL, on_hand INTEGER NOT NULL, reserved INTEGER NOT NULL,
  as_of TEXT, PRIMARY KEY (warehouse_id, sku));
CREATE TABLE IF NOT EXISTS reservations (
  order_id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, lines TEXT NOT NULL, run_id TEXT, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS stock_adjustments (
  id TEXT PRIMARY KEY, warehouse_id TEXT NOT NULL, sku TEXT NOT NULL, delta INTEGER NOT NULL, at TEXT NOT NULL);
"""


def _stamp(at: datetime) -> str:
    """A fixed-width UTC text, so that SQL compares times as strings correctly."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SqliteInventory(SqliteDatabase):
    """`common.ports.InventoryStore` on SQLite. Safe to share between threads."""

    schema = SCHEMA

    # ----------------------------------------------------------------- stock
    def stock(self, warehouse_id: str | None = None) -> list[StockRow]:
        sql = "SELECT warehouse_id, sku, on_hand, reserved, as_of FROM stock"
        rows = (self._rows(sql + " ORDER BY warehouse_id, sku") if warehouse_id is None
                else self._rows(sql + " WHERE warehouse_id = ? ORDER BY sku", (warehouse_id,)))
        return [StockRow(warehouse_id=w, sku=s, on_hand=h, reserved=r, as_of=_time(a)) for w, s, h, r, a in rows]

    def set_on_hand(self, rows: Iterable[tuple[str, str, int]], as_of: datetime) -> int:
        """Set on-hand from a snapshot taken at `as_of`; returns the rows set
        (stale rows, older than what the row holds, are skipped)."""
        stamp = _stamp(as_of)
        values = []
        for warehouse_id, sku, on_hand in rows:
            if on_hand < 0:
                raise ValueError(f"negative on-hand {on_hand} for {warehouse_id}/{sku}")
            values.append((warehouse_id, sku, int(on_hand), stamp))
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                "INSERT INTO stock (warehouse_id, sku, on_hand, reserved, as_of) VALUES (?, ?, ?, 0, ?) "
                "ON CONFLICT(warehouse_id, sku) DO UPDATE SET on_hand = excluded.on_hand, as_of = excluded.as_of "
                "WHERE stock.as_of IS NULL OR stock.as_of <= excluded.as_of",
                values,
            )
            return db.total_changes - before

    def adjust_on_hand(self, warehouse_id: str, sku: str, delta: int, adjustment_id: str) -> bool:
        with self.transaction() as db:
            try:
                db.execute("INSERT INTO stock_adjustments (id, warehouse_id, sku, delta, at) VALUES (?,?,?,?,?)",
                           (adjustment_id, warehouse_id, sku, delta, _stamp(datetime.now(UTC))))
            except sqlite3.IntegrityError:
                return False  # applied already
            db.execute(
                "INSERT INTO stock (warehouse_id, sku, on_hand, reserved, as_of) VALUES (?, ?, MAX(?, 0), 0, NULL) "
                "ON CONFLICT(warehouse_id, sku) DO UPDATE SET on_hand = MAX(stock.on_hand + ?, 0)",
                (warehouse_id, sku, delta, delta),
            )
            return True

    # ---------------------------------------------------------- reservations
    def reserve(self, reservation: Reservation) -> bool:
        lines = {sku: qty for sku, qty in reservation.lines.items() if qty != 0}
        if any(qty < 0 for qty in lines.values()):
            raise ValueError(f"negative quantity in the reservation of {reservation.order_id}")
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM reservations WHERE order_id = ?", (reservation.order_id,)).fetchone():
                return False
            shortfall = []
            skus = sorted(lines)
            marks = ",".join("?" * len(skus))  # one read of the order's stock rows (its lines are bounded)
            left = dict(db.execute("SELECT sku, on_hand - reserved FROM stock "
                                   f"WHERE warehouse_id = ? AND sku IN ({marks})",
                                   (reservation.warehouse_id, *skus)).fetchall())
            for sku in skus:
                available = max(left[sku], 0) if sku in left else 0
                if lines[sku] > available:
                    shortfall.append({"sku": sku, "needed": lines[sku], "available": available})
            if shortfall:
                raise InsufficientStock(reservation.order_id, shortfall)
            db.executemany("UPDATE stock SET reserved = reserved + ? WHERE warehouse_id = ? AND sku = ?",
                           [(qty, reservation.warehouse_id, sku) for sku, qty in lines.items()])
            db.execute("INSERT INTO reservations (order_id, warehouse_id, lines, run_id, at) VALUES (?,?,?,?,?)",
                       (reservation.order_id, reservation.warehouse_id, json.dumps(lines, sort_keys=True),
                        reservation.run_id, _stamp(reservation.at)))
            return True

    def _take(self, order_id: str, consume: bool) -> bool:
        with self.transaction() as db:
            row = db.execute("SELECT warehouse_id, lines FROM reservations WHERE order_id = ?",
                             (order_id,)).fetchone()
            if row is None:
                return False
            warehouse_id, lines = row[0], json.loads(row[1])
            if consume:  # shipped: out of on-hand and reserved
                db.executemany("UPDATE stock SET reserved = MAX(reserved - ?, 0), on_hand = MAX(on_hand - ?, 0) "
                               "WHERE warehouse_id = ? AND sku = ?",
                               [(qty, qty, warehouse_id, sku) for sku, qty in lines.items()])
            else:
                db.executemany("UPDATE stock SET reserved = MAX(reserved - ?, 0) WHERE warehouse_id = ? AND sku = ?",
                               [(qty, warehouse_id, sku) for sku, qty in lines.items()])
            db.execute("DELETE FROM reservations WHERE order_id = ?", (order_id,))
            return True

    def release_reservation(self, order_id: str) -> bool:
        return self._take(order_id, consume=False)

    def consume_reservation(self, order_id: str) -> bool:
        return self._take(order_id, consume=True)

    def get_reservation(self, order_id: str) -> Reservation | None:
        rows = self._rows("SELECT order_id, warehouse_id, lines, run_id, at FROM reservations WHERE order_id = ?",
                          (order_id,))
        return self._reservation(rows[0]) if rows else None

    def reservations(self) -> list[Reservation]:
        rows = self._rows("SELECT order_id, warehouse_id, lines, run_id, at FROM reservations ORDER BY order_id")
        return [self._reservation(r) for r in rows]

    @staticmethod
    def _reservation(row: tuple[Any, ...]) -> Reservation:
        order_id, warehouse_id, lines, run_id, at = row
        return Reservation(order_id=order_id, warehouse_id=warehouse_id, lines=json.loads(lines), run_id=run_id,
                           at=datetime.fromisoformat(at))
