"""`common.ports.InventoryStore` on Azure Cosmos DB (NoSQL API): the
`inventory` container, partition key `/warehouse_id` (DESIGN.md section 4).

Documents (`type` discriminator, id prefixed by type, documents.py):
- `stock:<sku>` in the warehouse's partition: on_hand, reserved, as_of;
- `reservation:<order_id>` in the warehouse's partition: the order's lines;
- `adjustment:<adjustment_id>` in the warehouse's partition: the marker
  that makes a `StockAdjusted` apply once;
- `reservation-index:<order_id>` in one of 16 shard partitions
  `~reservation-index~NN` (by a hash of the order id, so no single logical
  partition takes every reservation's write): which warehouse the order
  reserved in, so that `get_reservation`, `release_reservation` and
  `consume_reservation` (which know only the order id) do two point reads
  instead of a cross-partition query. It is written (again) before every
  reservation and never deleted, so no release can race a new reservation
  for it; it expires by TTL (`INDEX_TTL_DAYS` after the last reservation),
  which keeps the shards small. The index is a fast path, never the truth: an
  order without one (expired, or a crash between the two writes) is looked
  up by a cross-partition query for its reservation document.

Every change of stock is one transactional batch in the warehouse's
partition, conditional on what was read: reserve creates the reservation
(409: the order holds one already, answer False) and replaces each stock
document with if-match on its ETag after checking what is available;
release and consume delete the reservation (if-match) and replace the stock
documents likewise; an adjustment creates its marker (409: applied already)
with the stock write. A 412 (or a 404/409 on a stock document) means another
writer got there first: read again and retry, a bounded number of times, so
no unit is ever reserved twice and `available` never goes negative through
a reservation.

Limits, stated rather than hidden:
- A reservation of more than 99 SKUs does not fit one transactional batch
  (100 operations) and is refused with ValueError.
- One reservation per order is exact within a warehouse (the batch's create
  conflicts). Reserving the same order in a *second* warehouse is refused
  when the index shows a reservation in the first, but two concurrent first
  reservations of one order in two different warehouses are not serialised
  (the OMS reserves an order only in its own warehouse).
- `adjust_on_hand` is idempotent per (warehouse, adjustment id): the marker
  lives in the warehouse's partition, as a `StockAdjusted` names one.
- A snapshot (`set_on_hand`) is written per warehouse in batches of up to
  100 rows; each batch is atomic, the snapshot as a whole is not (a crash
  half way leaves some rows at the new count; applying it again finishes it).
  Negative counts are refused before anything is written.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from azure.cosmos import ContainerProxy, exceptions

from common.adapters.cosmos import documents as d
from common.adapters.cosmos.database import CosmosDatabase
from common.adapters.cosmos.schema import ensure_containers
from common.domain.errors import ConcurrencyConflict, InsufficientStock
from common.domain.models import Reservation, StockRow

CONTAINER = "inventory"
STOCK, RESERVATION, ADJUSTMENT, INDEX = "stock", "reservation", "adjustment", "reservation-index"
INDEX_PREFIX = "~reservation-index~"  # not a warehouse id: warehouse ids have no "~"
INDEX_SHARDS = 16
INDEX_TTL_DAYS = 45
MAX_BATCH = 100
MAX_LINES = MAX_BATCH - 1  # one operation is the reservation document itself
ATTEMPTS = 40  # conditional-write retries; each lost round means another writer won one
_QUERY_CHUNK = 200
T = TypeVar("T")


def index_partition(order_id: str) -> str:
    """The shard partition of an order's reservation index document."""
    shard = int.from_bytes(hashlib.blake2b(order_id.encode(), digest_size=2).digest(), "big") % INDEX_SHARDS
    return f"{INDEX_PREFIX}{shard:02d}"


def _pause(attempt: int) -> None:
    """Jittered backoff between conditional-write rounds, so that contenders spread out."""
    time.sleep(random.random() * min(0.5, 0.005 * (2 ** min(attempt, 10))))


class _Lost(enum.Enum):
    """A conditional-write round that another writer won (an enum, so that a
    round's own False stays an answer)."""

    LOST = "lost"


LOST = _Lost.LOST


def _until_written(round_: Callable[[], T | _Lost], gave_up: Callable[[], str]) -> T:
    """The loop of every stock change: `round_()` reads what it needs, decides
    and writes one transactional batch; a round another writer won returns
    LOST and is played again on a fresh read after a jittered pause, at most
    ATTEMPTS times; then ConcurrencyConflict(`gave_up()`). (The service's
    conflict retries, common/service/retry.py, sit above this: it is the
    adapter's own answer to contention on one warehouse's stock rows.)"""
    for attempt in range(ATTEMPTS):
        done = round_()
        if done is not LOST:
            return done
        _pause(attempt)
    raise ConcurrencyConflict(gave_up())


def _stock_body(warehouse_id: str, sku: str, on_hand: int, reserved: int, as_of: datetime | None) -> dict[str, Any]:
    row = StockRow(warehouse_id=warehouse_id, sku=sku, on_hand=on_hand, reserved=reserved, as_of=as_of)
    return d.to_doc(row, STOCK, sku, x_as_of=d.epoch(as_of) if as_of is not None else None)


def _restock(doc: dict[str, Any], *, on_hand: int | None = None, reserved: int | None = None,
             as_of: datetime | None = None) -> dict[str, Any]:
    """The stock document `doc` with new levels (and snapshot time)."""
    row = d.from_doc(StockRow, doc)
    return _stock_body(row.warehouse_id, row.sku, row.on_hand if on_hand is None else on_hand,
                       row.reserved if reserved is None else reserved, as_of if as_of is not None else row.as_of)


def _replace(doc: dict[str, Any], body: dict[str, Any]) -> tuple[Any, ...]:
    return ("replace", (doc["id"], body), {"if_match_etag": doc["_etag"]})


class CosmosInventory(CosmosDatabase):
    """Stock and reservations on Cosmos DB. Shares the process's client; safe
    to share between threads."""

    @property
    def container(self) -> ContainerProxy:
        return self.container_client(CONTAINER)

    def ensure_schema(self) -> None:
        """Create the database and the container when missing, as
        containers.json describes it (emulators); in Azure infra/ provisions
        them from the same file and this only reads them."""
        ensure_containers(self._client_factory(), self.database_name, [CONTAINER])

    def close(self) -> None:
        """The client belongs to the process (client.close_clients ends it)."""

    # ------------------------------------------------------------- helpers
    def _point(self, item: str, partition: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.retry(lambda: self.container.read_item(item, partition))
        except exceptions.CosmosResourceNotFoundError:
            return None
        return found

    def _query(self, sql: str, params: dict[str, Any], partition: str | None = None) -> list[dict[str, Any]]:
        parameters = [{"name": k, "value": v} for k, v in params.items()]

        def run() -> list[dict[str, Any]]:
            if partition is not None:
                return list(self.container.query_items(sql, parameters=parameters, partition_key=partition))
            return list(self.container.query_items(sql, parameters=parameters, enable_cross_partition_query=True))

        return self.retry(run)

    def _stock_docs(self, warehouse_id: str, skus: list[str]) -> dict[str, dict[str, Any]]:
        """The stock documents of `skus` in the warehouse, by SKU. The
        warehouse is in the WHERE clause as well as the partition option."""
        if not skus:
            return {}
        if len(skus) == 1:
            doc = self._point(d.doc_id(STOCK, skus[0]), warehouse_id)
            return {skus[0]: doc} if doc is not None and doc.get("type") == STOCK else {}
        if len(skus) > _QUERY_CHUNK:  # a large snapshot: one read of the whole partition
            docs = self._query("SELECT * FROM c WHERE c.warehouse_id = @w AND c.type = @t",
                               {"@w": warehouse_id, "@t": STOCK}, warehouse_id)
        else:
            docs = self._query("SELECT * FROM c WHERE c.warehouse_id = @w AND c.type = @t "
                               "AND ARRAY_CONTAINS(@skus, c.sku)",
                               {"@w": warehouse_id, "@t": STOCK, "@skus": skus}, warehouse_id)
        wanted = set(skus)
        return {doc["sku"]: doc for doc in docs if doc["sku"] in wanted}

    def _batch(self, partition: str, operations: list[tuple[Any, ...]]) -> tuple[int, int] | None:
        """Run one transactional batch. None when it committed; else (index,
        status) of the operation that failed a condition (404, 409, 412), and
        nothing of the batch is written. Other failures raise."""
        try:
            self.retry(lambda: self.container.execute_item_batch(operations, partition_key=partition))
        except exceptions.CosmosBatchOperationError as error:
            index = error.error_index or 0
            status = error.status_code
            responses = error.operation_responses or []
            if index < len(responses):
                status = int(responses[index].get("statusCode", status))
            if status in (404, 409, 412):
                return index, int(status)
            raise
        return None

    # ----------------------------------------------------------------- stock
    def stock(self, warehouse_id: str | None = None) -> list[StockRow]:
        if warehouse_id is None:
            docs = self._query("SELECT * FROM c WHERE c.type = @t", {"@t": STOCK})
        else:
            docs = self._query("SELECT * FROM c WHERE c.warehouse_id = @w AND c.type = @t",
                               {"@w": warehouse_id, "@t": STOCK}, warehouse_id)
        rows = [d.from_doc(StockRow, doc) for doc in docs]
        return sorted(rows, key=lambda r: (r.warehouse_id, r.sku))

    def set_on_hand(self, rows: Iterable[tuple[str, str, int]], as_of: datetime) -> int:
        """Set on-hand from a snapshot taken at `as_of`; returns the rows set
        (stale rows, older than what the row holds, are skipped). Reserved is
        kept: a count below it leaves the row over-reserved."""
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        by_warehouse: dict[str, dict[str, int]] = {}
        for warehouse_id, sku, on_hand in rows:
            if on_hand < 0:
                raise ValueError(f"negative on-hand {on_hand} for {warehouse_id}/{sku}")
            by_warehouse.setdefault(warehouse_id, {})[sku] = int(on_hand)
        return sum(self._set_warehouse(warehouse_id, counts, as_of)
                   for warehouse_id, counts in by_warehouse.items())

    def _set_warehouse(self, warehouse_id: str, counts: dict[str, int], as_of: datetime) -> int:
        stamp = d.epoch(as_of)
        pending = dict(counts)
        written = 0

        def round_() -> int | _Lost:
            nonlocal written
            existing = self._stock_docs(warehouse_id, sorted(pending))
            operations: list[tuple[str, tuple[Any, ...]]] = []
            for sku in sorted(pending):
                doc = existing.get(sku)
                if doc is None:
                    body = _stock_body(warehouse_id, sku, pending[sku], 0, as_of)
                    operations.append((sku, ("create", (body,))))
                elif doc.get("x_as_of") is not None and doc["x_as_of"] > stamp:
                    del pending[sku]  # stale: the row holds a newer count
                else:
                    operations.append((sku, _replace(doc, _restock(doc, on_hand=pending[sku], as_of=as_of))))
            for start in range(0, len(operations), MAX_BATCH):
                chunk = operations[start:start + MAX_BATCH]
                if self._batch(warehouse_id, [op for _, op in chunk]) is None:
                    written += len(chunk)
                    for sku, _ in chunk:
                        del pending[sku]
                # else: a row changed (reserve, adjust) since it was read; its chunk goes again
            return written if not pending else LOST

        return _until_written(round_, lambda: f"stock of warehouse {warehouse_id} kept changing; "
                                              f"{len(pending)} snapshot rows not written")

    def adjust_on_hand(self, warehouse_id: str, sku: str, delta: int, adjustment_id: str) -> bool:
        marker = {"id": d.doc_id(ADJUSTMENT, adjustment_id), "type": ADJUSTMENT, "warehouse_id": warehouse_id,
                  "adjustment_id": adjustment_id, "sku": sku, "delta": int(delta),
                  "at": datetime.now(UTC).isoformat()}

        def round_() -> bool | _Lost:
            doc = self._point(d.doc_id(STOCK, sku), warehouse_id)
            if doc is None:
                stock_op: tuple[Any, ...] = ("create", (_stock_body(warehouse_id, sku, max(delta, 0), 0, None),))
            else:
                stock_op = _replace(doc, _restock(doc, on_hand=max(int(doc["on_hand"]) + delta, 0)))
            failed = self._batch(warehouse_id, [("create", (marker,)), stock_op])
            if failed is None:
                return True
            if failed == (0, 409):
                return False  # applied already
            return LOST  # the stock row was created or changed meanwhile

        return _until_written(round_, lambda: f"stock {warehouse_id}/{sku} kept changing; "
                                              f"adjustment {adjustment_id} not applied")

    # ---------------------------------------------------------- reservations
    def _index(self, order_id: str) -> dict[str, Any] | None:
        return self._point(d.doc_id(INDEX, order_id), index_partition(order_id))

    def _locate(self, order_id: str) -> str | None:
        """The warehouse the order's reservation is in (None: it holds none)."""
        index = self._index(order_id)
        if index is not None:
            return str(index["held_in"])
        docs = self._query("SELECT c.warehouse_id FROM c WHERE c.type = @t AND c.order_id = @o",
                           {"@t": RESERVATION, "@o": order_id})
        return str(docs[0]["warehouse_id"]) if docs else None

    def _held(self, order_id: str, warehouse_id: str) -> dict[str, Any] | None:
        return self._point(d.doc_id(RESERVATION, order_id), warehouse_id)

    @contextlib.contextmanager
    def batched(self) -> Iterator[None]:
        yield  # each call is its own transactional batch (they span the stock rows of one warehouse)

    def reserve(self, reservation: Reservation) -> bool:
        lines = {sku: int(qty) for sku, qty in reservation.lines.items() if qty != 0}
        if any(qty < 0 for qty in lines.values()):
            raise ValueError(f"negative quantity in the reservation of {reservation.order_id}")
        if len(lines) > MAX_LINES:
            raise ValueError(f"the reservation of {reservation.order_id} has {len(lines)} SKUs; "
                             f"one Cosmos DB transactional batch holds at most {MAX_LINES}")
        order_id, warehouse_id = reservation.order_id, reservation.warehouse_id
        held_in = self._locate(order_id)
        if held_in is not None and held_in != warehouse_id and self._held(order_id, held_in) is not None:
            return False  # reserved in another warehouse
        # Before the reservation (and each time, which renews its TTL): a crash
        # after the batch leaves it findable.
        self.retry(lambda: self.container.upsert_item(
            {"id": d.doc_id(INDEX, order_id), "type": INDEX, "warehouse_id": index_partition(order_id),
             "order_id": order_id, "held_in": warehouse_id, "ttl": INDEX_TTL_DAYS * 86_400}))
        body = d.to_doc(reservation.model_copy(update={"lines": lines}), RESERVATION, order_id)

        def round_() -> bool | _Lost:
            if self._held(order_id, warehouse_id) is not None:
                return False
            docs = self._stock_docs(warehouse_id, sorted(lines))
            shortfall = []
            for sku in sorted(lines):
                doc = docs.get(sku)
                available = max(int(doc["on_hand"]) - int(doc["reserved"]), 0) if doc is not None else 0
                if lines[sku] > available:
                    shortfall.append({"sku": sku, "needed": lines[sku], "available": available})
            if shortfall:
                raise InsufficientStock(order_id, shortfall)
            operations: list[tuple[Any, ...]] = [("create", (body,))]
            for sku in sorted(lines):
                doc = docs[sku]
                operations.append(_replace(doc, _restock(doc, reserved=int(doc["reserved"]) + lines[sku])))
            failed = self._batch(warehouse_id, operations)
            if failed is None:
                return True
            if failed == (0, 409):
                return False  # another run reserved this order meanwhile
            return LOST  # a stock row changed since it was read: check again

        return _until_written(round_, lambda: f"stock of warehouse {warehouse_id} kept changing; "
                                              f"order {order_id} not reserved")

    def _take(self, order_id: str, consume: bool) -> bool:
        warehouse_id = self._locate(order_id)
        if warehouse_id is None:
            return False

        def round_() -> bool | _Lost:
            held = self._held(order_id, warehouse_id)
            if held is None:
                return False
            lines: dict[str, int] = held["lines"]
            docs = self._stock_docs(warehouse_id, sorted(lines))
            operations: list[tuple[Any, ...]] = [("delete", (held["id"],), {"if_match_etag": held["_etag"]})]
            for sku in sorted(lines):
                doc = docs.get(sku)
                if doc is None:
                    continue  # no stock row to give back to (as in SQLite, nothing to update)
                qty = int(lines[sku])
                reserved = max(int(doc["reserved"]) - qty, 0)
                on_hand = max(int(doc["on_hand"]) - qty, 0) if consume else None
                operations.append(_replace(doc, _restock(doc, on_hand=on_hand, reserved=reserved)))
            failed = self._batch(warehouse_id, operations)
            if failed is None:
                return True
            if failed == (0, 404):
                return False  # released or consumed by another caller meanwhile
            return LOST

        return _until_written(round_, lambda: f"stock of warehouse {warehouse_id} kept changing; "
                                              f"reservation of {order_id} not {'consumed' if consume else 'released'}")

    def release_reservation(self, order_id: str) -> bool:
        return self._take(order_id, consume=False)

    def consume_reservation(self, order_id: str) -> bool:
        return self._take(order_id, consume=True)

    def get_reservation(self, order_id: str) -> Reservation | None:
        warehouse_id = self._locate(order_id)
        if warehouse_id is None:
            return None
        held = self._held(order_id, warehouse_id)
        return d.from_doc(Reservation, held) if held is not None else None

    def reservations(self) -> list[Reservation]:
        """Every reservation: a cross-partition query (allocation runs, once per run)."""
        docs = self._query("SELECT * FROM c WHERE c.type = @t", {"@t": RESERVATION})
        return sorted((d.from_doc(Reservation, doc) for doc in docs), key=lambda r: r.order_id)
