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

Inside `batched` (one transaction, the write lock held from its start, so no
other writer changes a row meanwhile), reservations are decided against the
stock rows as first read in the block and kept up to date in memory, and
written together (one statement per table) before any other call of the
block reads or writes, and when the block ends, however it ends: each call
still answers, and is all or none, as alone. An allocation run's thousand
reservations per transaction were five statements each.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

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


def _lines_text(lines: dict[str, int]) -> str:
    """A reservation's lines as stored: JSON, SKUs in order."""
    return orjson.dumps(lines, option=orjson.OPT_SORT_KEYS).decode()


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class _Batch:
    """A batch's reservations not yet written, and the stock rows it read."""

    left: dict[tuple[str, str], int | None] = field(default_factory=dict)  # on_hand - reserved; None: no row
    reserved: dict[tuple[str, str], int] = field(default_factory=dict)  # units to add to `reserved`
    rows: list[tuple[str, str, str, str | None, str]] = field(default_factory=list)  # reservations to insert
    orders: set[str] = field(default_factory=set)  # their order ids


class SqliteInventory(SqliteDatabase):
    """`common.ports.InventoryStore` on SQLite. Safe to share between threads."""

    schema = SCHEMA

    def __init__(self, path: Any = ":memory:") -> None:
        super().__init__(path)
        self._batch: _Batch | None = None

    @contextmanager
    def batched(self) -> Iterator[None]:
        with super().batched():
            if self._batch is not None:  # nested: the outer block writes
                yield
                return
            self._batch = _Batch()
            try:
                yield
            finally:
                try:
                    self._flush()
                finally:
                    self._batch = None

    def _flush(self) -> None:
        """Write the batch's reservations (before any other read or write of
        the block, and at its end); the stock rows read stay known."""
        batch = self._batch
        if batch is None or not batch.rows:
            return
        with self.transaction() as db:
            db.executemany("UPDATE stock SET reserved = reserved + ? WHERE warehouse_id = ? AND sku = ?",
                           [(qty, wh, sku) for (wh, sku), qty in batch.reserved.items()])
            db.executemany("INSERT INTO reservations (order_id, warehouse_id, lines, run_id, at) VALUES (?,?,?,?,?)",
                           batch.rows)
        batch.reserved.clear()
        batch.rows.clear()
        batch.orders.clear()

    def _settled(self) -> None:
        """Before a call other than `reserve`: the batch's reservations written,
        and its stock rows read again when next needed (the call may change them)."""
        with self._lock:  # a batch holds the lock until it ends: another thread's is over by then
            if self._batch is not None:
                self._flush()
                self._batch.left.clear()

    # ----------------------------------------------------------------- stock
    def stock(self, warehouse_id: str | None = None) -> list[StockRow]:
        self._settled()
        sql = "SELECT warehouse_id, sku, on_hand, reserved, as_of FROM stock"
        rows = (self._rows(sql + " ORDER BY warehouse_id, sku") if warehouse_id is None
                else self._rows(sql + " WHERE warehouse_id = ? ORDER BY sku", (warehouse_id,)))
        return [StockRow(warehouse_id=w, sku=s, on_hand=h, reserved=r, as_of=_time(a)) for w, s, h, r, a in rows]

    def set_on_hand(self, rows: Iterable[tuple[str, str, int]], as_of: datetime) -> int:
        """Set on-hand from a snapshot taken at `as_of`; returns the rows set
        (stale rows, older than what the row holds, are skipped)."""
        self._settled()
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
        self._settled()
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
        with self._lock:
            batch = self._batch
            if batch is None:  # alone: its own transaction
                self._batch = batch = _Batch()
                try:
                    with self.transaction():
                        done = self._reserve(reservation, lines, batch)
                        self._flush()
                finally:
                    self._batch = None
                return done
            return self._reserve(reservation, lines, batch)

    def _reserve(self, reservation: Reservation, lines: dict[str, int], batch: _Batch) -> bool:
        """Decide one reservation against the batch's view of the stock (the
        write lock is held); written by `_flush`."""
        order_id, warehouse_id = reservation.order_id, reservation.warehouse_id
        db = self._db
        if order_id in batch.orders or db.execute("SELECT 1 FROM reservations WHERE order_id = ?",
                                                  (order_id,)).fetchone():
            return False
        skus = sorted(lines)
        left = batch.left
        unread = [sku for sku in skus if (warehouse_id, sku) not in left]
        if unread:  # one read of the order's stock rows not known yet (its lines are bounded)
            marks = ",".join("?" * len(unread))
            found = dict(db.execute("SELECT sku, on_hand - reserved FROM stock "
                                    f"WHERE warehouse_id = ? AND sku IN ({marks})", (warehouse_id, *unread)).fetchall())
            for sku in unread:
                left[(warehouse_id, sku)] = found.get(sku)
        shortfall = []
        for sku in skus:
            row = left[(warehouse_id, sku)]
            available = max(row, 0) if row is not None else 0
            if lines[sku] > available:
                shortfall.append({"sku": sku, "needed": lines[sku], "available": available})
        if shortfall:
            raise InsufficientStock(order_id, shortfall)
        reserved = batch.reserved
        for sku, qty in lines.items():
            key = (warehouse_id, sku)
            left[key] = (left[key] or 0) - qty
            reserved[key] = reserved.get(key, 0) + qty
        batch.rows.append((order_id, warehouse_id, _lines_text(lines), reservation.run_id, _stamp(reservation.at)))
        batch.orders.add(order_id)
        return True

    def _take(self, order_id: str, consume: bool) -> bool:
        self._settled()
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
        self._settled()
        rows = self._rows("SELECT order_id, warehouse_id, lines, run_id, at FROM reservations WHERE order_id = ?",
                          (order_id,))
        return self._reservation(rows[0]) if rows else None

    def reservations(self) -> list[Reservation]:
        self._settled()
        rows = self._rows("SELECT order_id, warehouse_id, lines, run_id, at FROM reservations ORDER BY order_id")
        return [self._reservation(r) for r in rows]

    @staticmethod
    def _reservation(row: tuple[Any, ...]) -> Reservation:
        order_id, warehouse_id, lines, run_id, at = row
        return Reservation(order_id=order_id, warehouse_id=warehouse_id, lines=json.loads(lines), run_id=run_id,
                           at=datetime.fromisoformat(at))
