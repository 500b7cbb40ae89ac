"""The unit of work: one per invocation, never shared.

It reads through the store once per document (an identity map), keeps each
document's ETag as read, collects the effects of the invocation's decisions
grouped by partition, and commits them with `Store.commit`: every document is
written once, with `if-match` on the ETag it was read with, beside the audit
entries, outbox events and idempotency markers of the same partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from common.domain.delta import Decision, StreamState
from common.domain.history import Effect
from common.domain.ids import project_of
from common.domain.models import AuditEntry, Marker, Order, OutboxEvent, Stream, StreamKey
from common.ports import CommitResult, DocWrite, PartitionChanges, Store


@dataclass
class _Tracked:
    expected: str | None  # ETag as read; None: new document


@dataclass
class UnitOfWork:
    store: Store
    _orders: dict[str, Order | None] = field(default_factory=dict)
    _order_etags: dict[str, str | None] = field(default_factory=dict)
    _streams: dict[str, StreamState] = field(default_factory=dict)
    _stream_etags: dict[str, str | None] = field(default_factory=dict)
    _parts: dict[str, PartitionChanges] = field(default_factory=dict)
    released_reservations: list[str] = field(default_factory=list)

    # ----------------------------------------------------------------- reads
    def orders(self, order_ids: Iterable[str]) -> dict[str, Order]:
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
        self._orders[order.order_id] = order
        expected = self._order_etags.setdefault(order.order_id, None)
        self._part(order.project_id).orders[order.order_id] = DocWrite(order, expected)
        state = self._streams.get(order.stream_id)
        if state is not None:
            state.orders[order.order_id] = order

    def put_stream(self, stream: Stream) -> None:
        expected = self._stream_etags.setdefault(stream.stream_id, None)
        self._part(stream.project_id).streams[stream.stream_id] = DocWrite(stream, expected)

    def add_effect(self, effect: Effect) -> None:
        self.put_order(effect.order)
        part = self._part(effect.order.project_id)
        part.audit.append(effect.audit)
        if effect.outbox is not None:
            part.outbox.append(effect.outbox)
        if effect.releases_reservation:
            self.released_reservations.append(effect.order.order_id)

    def add_audit(self, entry: AuditEntry) -> None:
        self._part(entry.project_id).audit.append(entry)

    def add_outbox(self, event: OutboxEvent) -> None:
        self._part(event.project_id).outbox.append(event)

    def add_marker(self, marker: Marker) -> None:
        self._part(marker.project_id).markers.append(marker)

    def add_decision(self, decision: Decision) -> None:
        for effect in decision.effects:
            self.add_effect(effect)
        for entry in decision.stream_audit:
            self.add_audit(entry)
        if decision.stream is not None:
            self.put_stream(decision.stream)

    def pending_partitions(self) -> list[str]:
        return [p for p, changes in self._parts.items() if not changes.is_empty()]

    def commit(self) -> CommitResult:
        """Write everything collected; conflicting partitions write nothing and
        are forgotten here, so the caller can re-read and retry them."""
        parts = [p for p in self._parts.values() if not p.is_empty()]
        result = self.store.commit(parts) if parts else CommitResult()
        for part in parts:
            if part.partition in result.conflicts:
                self.forget(part.partition)
            else:
                for oid, write in part.orders.items():
                    self._order_etags[oid] = write.doc.etag
                for sid, swrite in part.streams.items():
                    self._stream_etags[sid] = swrite.doc.etag
        self._parts.clear()
        if result.conflicts:
            self.released_reservations = [
                o for o in self.released_reservations if project_of(o) not in result.conflicts
            ]
        return result

    def rollback(self) -> None:
        for partition in list(self._parts):
            self.forget(partition)
        self._parts.clear()
        self.released_reservations.clear()

    def forget(self, partition: str) -> None:
        """Drop what is cached of a partition so the next read goes to the store."""
        for oid in [o for o in self._orders if project_of(o) == partition]:
            self._orders.pop(oid, None)
            self._order_etags.pop(oid, None)
        for sid in [s for s, st in self._streams.items() if st.stream.project_id == partition]:
            self._streams.pop(sid, None)
            self._stream_etags.pop(sid, None)
