"""The unit of work: one per invocation, never shared.

It reads through the store once per document (an identity map), keeps each
document's ETag as read, collects the effects of the invocation's decisions
grouped by partition, and commits them with `Store.commit`: every document is
written once, with `if-match` on the ETag it was read with, beside the audit
entries, outbox events and idempotency markers of the same partition.

It also performs each effect's stock side, in the order the effect says
(common/domain/effects.py), so no caller can forget it:

1. reservations, and the warehouse's `first` effects, before the write; a
   refused reservation drops that effect's writes (the order stays as read)
   and is reported in `UnitResult.refused`; a reservation made ahead for the
   unit (`reserve_ahead`, `adopt_reservations`) is not made again;
2. the write, one atomic batch per partition;
3. for a partition that lost to a concurrent writer, the reservations this
   commit made (or adopted) for it go back (a retry reserves again), unless
   another writer allocated the order meanwhile with that reservation;
4. for the partitions that committed, the rest (a reservation given back
   because the order left Allocated).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from common.domain.delta import Decision, StreamState
from common.domain.effects import Effect, StockEffect
from common.domain.errors import InsufficientStock
from common.domain.ids import project_of
from common.domain.models import AuditEntry, Marker, Order, OrderStatus, OutboxEvent, Reservation, Stream, StreamKey
from common.ports import CommitResult, DocWrite, InventoryStore, PartitionChanges, Store


@dataclass
class StockRefusal:
    """Why an effect's reservation was refused: the stock does not cover it
    (`shortfall`), or another run holds the order's reservation (`held_by`)."""

    order_id: str
    shortfall: list[dict[str, Any]] = field(default_factory=list)
    held_by: str | None = None


@dataclass
class UnitResult(CommitResult):
    """The store's result, and the effects dropped because their reservation
    was refused (by order id)."""

    refused: dict[str, StockRefusal] = field(default_factory=dict)


def apply_stock(inventory: InventoryStore, stock: StockEffect) -> None:
    """Release, consume and restock: each idempotent (per order, per
    adjustment id)."""
    if stock.consume is not None:
        inventory.consume_reservation(stock.consume)
    if stock.release is not None:
        inventory.release_reservation(stock.release)
    for item in stock.restock:
        inventory.adjust_on_hand(item.warehouse_id, item.sku, item.qty, item.adjustment_id)


def reserve(inventory: InventoryStore, reservation: Reservation) -> bool | StockRefusal:
    """True: reserved now; False: the order holds this very reservation
    already (this run's, from an attempt that did not write the order)."""
    try:
        if inventory.reserve(reservation):
            return True
    except InsufficientStock as short:
        return StockRefusal(reservation.order_id, shortfall=short.shortfall)
    held = inventory.get_reservation(reservation.order_id)
    if held is not None and held.run_id == reservation.run_id and held.lines == {
            k: v for k, v in reservation.lines.items() if v} and held.warehouse_id == reservation.warehouse_id:
        return False
    return StockRefusal(reservation.order_id, held_by=held.run_id if held else None)


def reserve_ahead(inventory: InventoryStore,
                  reservations: Sequence[Reservation]) -> tuple[list[Reservation], dict[str, StockRefusal]]:
    """Reserve now, in the order given and in one inventory transaction, the
    stock of effects that later units of work write (`adopt_reservations`):
    the reservations held (made now, or held already by this very one), and
    those refused. An allocation run reserves in rank order and writes its
    orders in id order."""
    held: list[Reservation] = []
    refused: dict[str, StockRefusal] = {}
    with inventory.batched():
        for reservation in reservations:
            outcome = reserve(inventory, reservation)
            if isinstance(outcome, StockRefusal):
                refused[reservation.order_id] = outcome
            else:
                held.append(reservation)
    return held, refused


@dataclass
class UnitOfWork:
    store: Store
    inventory: InventoryStore
    _orders: dict[str, Order | None] = field(default_factory=dict)
    _order_etags: dict[str, str | None] = field(default_factory=dict)
    _streams: dict[str, StreamState] = field(default_factory=dict)
    _stream_etags: dict[str, str | None] = field(default_factory=dict)
    _parts: dict[str, PartitionChanges] = field(default_factory=dict)
    _stocked: list[Effect] = field(default_factory=list)
    _chains: dict[str, list[Effect]] = field(default_factory=dict)  # per order, its effects in this unit
    _dropped: set[int] = field(default_factory=set)  # effects taken out (by id) before the write
    _held: dict[str, Reservation] = field(default_factory=dict)  # reserved ahead for this unit (by order id)

    # ----------------------------------------------------------------- reads
    def orders(self, order_ids: Iterable[str]) -> dict[str, Order]:
        order_ids = list(order_ids)
        missing = [i for i in order_ids if i not in self._orders]
        if missing:
            found = self.store.get_orders(missing)
            for order_id in missing:
                order = found.get(order_id)
                self._orders[order_id] = order
                self._order_etags[order_id] = order.etag if order else None
        return {i: o for i in order_ids if (o := self._orders.get(i)) is not None}

    def order(self, order_id: str) -> Order | None:
        return self.orders([order_id]).get(order_id)

    def adopt_orders(self, orders: Iterable[Order]) -> None:
        """Track orders read by a query (e.g. an allocation run's candidates),
        so that their writes carry the ETags they were read with."""
        for order in orders:
            if order.order_id not in self._orders:
                self._orders[order.order_id] = order
                self._order_etags[order.order_id] = order.etag

    def adopt_reservations(self, reservations: Iterable[Reservation]) -> None:
        """Reservations made for this unit's effects ahead of it
        (`reserve_ahead`): an effect that carries one is not reserved again,
        and the reservation goes back with a partition whose write is lost,
        as one this unit made."""
        for reservation in reservations:
            self._held[reservation.order_id] = reservation

    def load_streams(self, keys: Sequence[StreamKey]) -> None:
        """Load streams and all their orders in two bulk reads."""
        wanted = [k for k in dict.fromkeys(keys) if k.id not in self._streams]
        if not wanted:
            return
        found = self.store.get_streams([k.id for k in wanted])
        self.orders([oid for s in found.values() for oid in s.order_ids])
        for key in wanted:
            stream = found.get(key.id)
            if stream is None:
                self._streams[key.id] = StreamState.new(key)
                self._stream_etags[key.id] = None
            else:
                self._stream_etags[key.id] = stream.etag
                orders = {oid: o for oid in stream.order_ids if (o := self._orders.get(oid)) is not None}
                self._streams[key.id] = StreamState(stream=stream, orders=orders)

    def stream_state(self, key: StreamKey) -> StreamState:
        state = self._streams.get(key.id)
        if state is None:
            self.load_streams([key])
            state = self._streams[key.id]
        return state

    def adopt_streams(self, streams: Iterable[Stream]) -> list[StreamState]:
        """Track streams read by a query (e.g. the parked streams of a project)."""
        out = []
        for stream in streams:
            if stream.stream_id not in self._streams:
                self.orders(stream.order_ids)
                self._stream_etags[stream.stream_id] = stream.etag
                orders = {oid: o for oid in stream.order_ids if (o := self._orders.get(oid)) is not None}
                self._streams[stream.stream_id] = StreamState(stream=stream, orders=orders)
            out.append(self._streams[stream.stream_id])
        return out

    # ---------------------------------------------------------------- writes
    def _part(self, partition: str) -> PartitionChanges:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = PartitionChanges(partition=partition)
        return part

    def put_order(self, order: Order) -> None:
        """A bare order document (seeding, tests); changes go through `add`."""
        self._orders[order.order_id] = order
        expected = self._order_etags.setdefault(order.order_id, None)
        self._part(order.project_id).orders[order.order_id] = DocWrite(order, expected)
        state = self._streams.get(order.stream_id) if self._streams else None  # (no id to make for none)
        if state is not None:
            state.orders[order.order_id] = order

    def put_stream(self, stream: Stream) -> None:
        expected = self._stream_etags.setdefault(stream.stream_id, None)
        self._part(stream.project_id).streams[stream.stream_id] = DocWrite(stream, expected)

    def add(self, effect: Effect) -> None:
        """One order write with its audit entry, outbox event and stock effect.
        A second effect on the same order builds on the first (e.g. allocate,
        then release): the order is written once, as the last one left it,
        with every entry and event in order."""
        self._chains.setdefault(effect.order.order_id, []).append(effect)
        self.put_order(effect.order)
        part = self._part(effect.order.project_id)
        part.audit.append(effect.audit)
        if effect.outbox is not None:
            part.outbox.append(effect.outbox)
        if not effect.stock.is_empty:
            self._stocked.append(effect)

    def add_all(self, effects: Iterable[Effect]) -> None:
        for effect in effects:
            self.add(effect)

    def add_audit(self, entry: AuditEntry) -> None:
        self._part(entry.project_id).audit.append(entry)

    def add_outbox(self, event: OutboxEvent) -> None:
        self._part(event.project_id).outbox.append(event)

    def add_marker(self, marker: Marker) -> None:
        self._part(marker.project_id).markers.append(marker)

    def add_decision(self, decision: Decision) -> None:
        self.add_all(decision.effects)
        for entry in decision.stream_audit:
            self.add_audit(entry)
        if decision.stream is not None:
            self.put_stream(decision.stream)

    def pending_partitions(self) -> list[str]:
        return [p for p, changes in self._parts.items() if not changes.is_empty()]

    # ---------------------------------------------------------------- commit
    def _reserve(self, reservation: Reservation) -> bool | StockRefusal:
        return reserve(self.inventory, reservation)

    def _drop(self, effect: Effect) -> None:
        """Take an effect's writes out, and those of the order's later effects
        in this unit (they build on it): the order stays as it was before it."""
        oid = effect.order.order_id
        chain = self._chains.get(oid, [])
        at = next((n for n, e in enumerate(chain) if e is effect), len(chain))
        kept, dropped = chain[:at], chain[at:] or [effect]
        self._chains[oid] = kept
        self._dropped.update(id(e) for e in dropped)
        part = self._part(effect.order.project_id)
        if kept:
            part.orders[oid] = DocWrite(kept[-1].order, self._order_etags.get(oid))
        else:
            part.orders.pop(oid, None)
        audits = {id(e.audit) for e in dropped}
        events = {id(e.outbox) for e in dropped if e.outbox is not None}
        part.audit = [a for a in part.audit if id(a) not in audits]
        part.outbox = [e for e in part.outbox if id(e) not in events]
        self._orders[oid] = effect.before
        state = self._streams.get(effect.order.stream_id)
        if state is not None and effect.before is not None:
            state.orders[oid] = effect.before

    def commit(self) -> UnitResult:
        """Perform the stock effects and write everything collected (see the
        module docstring). Conflicting partitions write nothing and are
        forgotten here, so the caller can re-read and retry them."""
        refused: dict[str, StockRefusal] = {}
        reserved: list[Reservation] = []
        after: list[StockEffect] = []
        # One inventory write for them all (SQLite: one transaction, committed
        # before the order write below, which another connection makes).
        held = self._held
        calls = any(e.stock.reserve is None or held.get(e.order.order_id) is not e.stock.reserve
                    for e in self._stocked)
        with self.inventory.batched() if calls else nullcontext():
            for effect in self._stocked:
                if id(effect) in self._dropped:
                    continue  # dropped with an earlier effect on its order
                stock = effect.stock
                if stock.reserve is not None:
                    outcome = True if held.get(effect.order.order_id) is stock.reserve else self._reserve(stock.reserve)
                    if isinstance(outcome, StockRefusal):
                        refused[effect.order.order_id] = outcome
                        self._drop(effect)
                        continue
                    if outcome:
                        reserved.append(stock.reserve)
                if stock.first:
                    apply_stock(self.inventory, stock)
                else:
                    after.append(stock)
        parts = [p for p in self._parts.values() if not p.is_empty()]
        stored = self.store.commit(parts) if parts else CommitResult()
        for part in parts:
            if part.partition in stored.conflicts:
                self.forget(part.partition)
            else:
                for oid, write in part.orders.items():
                    self._order_etags[oid] = write.doc.etag
                for sid, swrite in part.streams.items():
                    self._stream_etags[sid] = swrite.doc.etag
        self._give_back([r for r in reserved if project_of(r.order_id) in stored.conflicts])
        for stock in after:
            order_id = stock.release or stock.consume
            if order_id is not None and project_of(order_id) in stored.conflicts:
                continue
            apply_stock(self.inventory, stock)
        self._parts.clear()
        self._stocked.clear()
        self._chains.clear()
        self._dropped.clear()
        self._held.clear()
        return UnitResult(conflicts=stored.conflicts, refused=refused)

    def _give_back(self, lost: list[Reservation]) -> None:
        """Reservations made for orders whose write was lost go back, unless
        another writer has moved the order to Allocated meanwhile (an
        overlapping run that completed it with this very reservation)."""
        if not lost:
            return
        fresh = self.store.get_orders([r.order_id for r in lost])
        for reservation in lost:
            order = fresh.get(reservation.order_id)
            if order is not None and order.status in (OrderStatus.ALLOCATED, OrderStatus.RELEASED):
                continue
            self.inventory.release_reservation(reservation.order_id)

    def rollback(self) -> None:
        for partition in list(self._parts):
            self.forget(partition)
        self._parts.clear()
        self._stocked.clear()
        self._chains.clear()
        self._dropped.clear()
        self._held.clear()

    def forget(self, partition: str) -> None:
        """Drop what is cached of a partition so the next read goes to the store."""
        for oid in [o for o in self._orders if project_of(o) == partition]:
            self._orders.pop(oid, None)
            self._order_etags.pop(oid, None)
        for sid in [s for s, st in self._streams.items() if st.stream.project_id == partition]:
            self._streams.pop(sid, None)
            self._stream_etags.pop(sid, None)
