"""One SQLite database file shared by the embedded adapters (orders store and
inventory), each with its own connection: WAL so readers never block the
writer, and write transactions that take the lock up front."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

# WAL pages after which a commit checkpoints (SQLite's default). A checkpoint
# copies the WAL into the database and syncs both files: a bulk load that
# checkpointed every 4 MB synced them about once per chunk, and on a busy disk
# those syncs took as long as the writes. A bulk transaction (`transaction(
# bulk=True)`: ingestion's chunks) checkpoints once the WAL holds 64 MB
# instead, and the connection goes back to the default after it. Durability
# is the same (WAL + synchronous=NORMAL: commits are not synced either way).
AUTOCHECKPOINT = 1000
BULK_AUTOCHECKPOINT = 16384


class SqliteDatabase:
    """A connection to `path`, safe to share between threads."""

    schema: ClassVar[str] = ""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=30000")
        # The default 2 MB page cache thrashes once the indexes outgrow it
        # (random document ids touch every page); 64 MB keeps a busy store's
        # hot pages in memory.
        self._db.execute("PRAGMA cache_size=-65536")
        self._db.execute("PRAGMA temp_store=MEMORY")

    def ensure_schema(self) -> None:
        with self._lock:
            self._db.executescript(self.schema)

    def ping(self) -> bool:
        with self._lock:
            return bool(self._db.execute("SELECT 1").fetchone() == (1,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self, bulk: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE takes the write lock up front,
        so two processes never both read-then-write the same rows). Inside
        `batched`, a savepoint of the batch's transaction: all or none alone.
        `bulk`: one of many large ones in a row, checkpointed seldom
        (BULK_AUTOCHECKPOINT)."""
        if bulk:
            with self._lock:
                self._db.execute(f"PRAGMA wal_autocheckpoint={BULK_AUTOCHECKPOINT}")
                try:
                    with self.transaction() as db:
                        yield db
                finally:
                    self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT}")
            return
        with self._lock:
            if self._db.in_transaction:
                self._db.execute("SAVEPOINT nested")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK TO nested")
                    raise
                finally:
                    self._db.execute("RELEASE nested")
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def batched(self) -> Iterator[None]:
        """The transactions of the block as one (one commit for many small
        writes, e.g. an allocation chunk's reservations), committed when the
        block ends however it ends: what a call finished stays, as it would
        have one by one. Other connections wait for the write lock meanwhile,
        so nothing in the block may wait on one of them."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()
