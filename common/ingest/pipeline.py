"""One dump from file to plan: read and normalize batch by batch, check every
row, split good from bad, and diff the good rows against the previous
snapshot. Pure Arrow and no writes: the handler applies the plan, and
bench/ingest.py times exactly this."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.domain.models import Reason
from common.ingest.delta import Delta, Previous, diff, positions
from common.ingest.limits import Limits, ReasonSink
from common.ingest.memory import ingestion_pool
from common.ingest.reader import BATCH_ROWS, Source, check_file, iter_normalized
from common.ingest.rows import take
from common.ingest.schema import DatasetSchema
from common.ingest.snapshots import SnapshotFile
from common.ingest.validate import KEY, ROW, Lookup, Resolver, check_rows, row_keys


@dataclass
class Plan:
    dataset: DatasetSchema
    rows_read: int
    bad: pa.Table  # the first bad rows (Limits.kept_bad_rows) as they were normalized, with ROW
    reasons: list[Reason]  # the first reasons, worded (Limits.listed_reasons)
    delta: Delta
    table: pa.Table  # every row, normalized
    good_mask: pa.ChunkedArray | pa.Array | None  # None: every row is good
    carried: pa.Table | None  # previous rows whose keys came only in bad rows
    partial: bool = False  # some rows of the dataset (reprocessing), not a whole dump
    previous: Previous | None = None
    stale: int = 0  # partial: rows older than what the snapshot holds, left out
    bad_count: int = 0  # every bad row, kept or not
    reason_counts: list[dict[str, object]] = field(default_factory=list)  # every reason, by column and type

    def snapshot(self) -> pa.Table:
        """What the previous snapshot becomes once the plan is applied: the
        good rows and the carried ones. Built only when it is written."""
        good = self.table if self.good_mask is None else self.table.filter(self.good_mask)
        if self.partial and self.previous is not None:
            previous = _whole(self.previous)
            others = previous.filter(pc.invert(pc.is_in(previous[KEY], value_set=good[KEY])))
            return pa.concat_tables([good, _conform(others, good)], promote_options="permissive")
        if self.carried is None or self.carried.num_rows == 0:
            return good
        return pa.concat_tables([good, _conform(self.carried, good)], promote_options="permissive")

    @property
    def quarantined(self) -> int:
        return self.bad_count

    @property
    def good_count(self) -> int:
        return self.rows_read - self.bad_count


def _conform(rows: pa.Table, like: pa.Table) -> pa.Table:
    """Previous rows kept beside this dump's: an extra column that changed type
    since (int to string, ...) is cast to the dump's type, or left null where it
    cannot be, so the two concatenate. The store keeps what was written; the
    snapshot only has to diff the next dump."""
    for name in rows.column_names:
        if name not in like.column_names or rows.schema.field(name).type == like.schema.field(name).type:
            continue
        wanted = like.schema.field(name).type
        if pa.types.is_null(wanted):
            continue  # permissive promotion widens null to the other type
        try:
            values = rows[name].cast(wanted)
        except (pa.ArrowException, ValueError):
            values = pa.nulls(rows.num_rows, wanted)
        rows = rows.set_column(rows.schema.get_field_index(name), name, values)
    return rows


def with_keys(table: Previous, ds: DatasetSchema) -> Previous:
    """A snapshot as read back, with its KEY column (a snapshot file makes
    its own when asked for it)."""
    if KEY in table.column_names or not isinstance(table, pa.Table):
        return table
    return cast(Previous, table.append_column(KEY, row_keys([table[k] for k in ds.key])))


def _whole(previous: Previous) -> pa.Table:
    if isinstance(previous, SnapshotFile):
        return previous.read()
    table: pa.Table = previous
    return table


def plan(source: Source, ds: DatasetSchema, previous: Previous | None, resolve: Resolver | None = None,
         batch_rows: int = BATCH_ROWS, partial: bool = False, limits: Limits = Limits(),
         on_rows: Callable[[int, int], None] | None = None) -> Plan:
    """Raises `reader.Rejected` when the whole file is refused. `partial`: the
    file holds some rows only (reprocessed bad rows): nothing is removed, and
    a row older than the snapshot's row of its key is left out as stale. A
    file with no good row removes nothing either. `on_rows(read, total)`
    after each batch read. `previous`: a table, or the snapshot file opened
    (`Snapshots.open`), read a column at a time as the delta needs it.
    Arrow allocates from `memory.ingestion_pool()` meanwhile."""
    with ingestion_pool():
        return _plan(source, ds, previous, resolve, batch_rows, partial, limits, on_rows)


def _plan(source: Source, ds: DatasetSchema, previous: Previous | None, resolve: Resolver | None,
          batch_rows: int, partial: bool, limits: Limits, on_rows: Callable[[int, int], None] | None) -> Plan:
    opened = check_file(source, ds, limits)
    sink = ReasonSink(limits.listed_reasons)
    batches: list[pa.RecordBatch] = []
    invalid: list[pa.Array] = []
    nulled: dict[str, list[pa.Array]] = {}
    read = 0
    for part in iter_normalized(opened, ds, sink, batch_rows, limits):
        for name in {c.name for c in ds.columns}:
            mask = part.nulled.get(name)
            nulled.setdefault(name, []).append(mask if mask is not None else
                                               pa.array(np.zeros(part.batch.num_rows, dtype=bool)))
        batches.append(part.batch)
        invalid.append(part.invalid)
        read += part.batch.num_rows
        if on_rows is not None:
            on_rows(read, opened.rows)
    table = pa.Table.from_batches(batches)
    del batches, opened  # the reader's buffers go with it
    lookup = None
    if previous is not None:
        # An empty snapshot too: a partial plan's snapshot() filters it by KEY.
        previous = with_keys(previous, ds)
        if previous.num_rows:
            lookup = Lookup(positions(table[KEY], previous.column(KEY)), previous.num_rows)
    checked = check_rows(table, ds, pa.chunked_array(invalid, pa.bool_()), resolve, sink, lookup,
                         {name: pa.chunked_array(masks, pa.bool_()) for name, masks in nulled.items()})
    bad_count = int(pc.sum(checked.bad).as_py() or 0)

    good = pc.invert(checked.bad) if checked.reasons else None
    stale = 0
    if partial and lookup is not None and previous is not None and ds.version:
        older = pc.fill_null(pc.less(table[ds.version], previous.column(ds.version).take(lookup.index)), False)
        older = older if good is None else pc.and_(good, older)
        stale = int(pc.sum(older).as_py() or 0)
        if stale:
            good = pc.invert(older) if good is None else pc.and_(good, pc.invert(older))
    compare = [n for n in _union(table, previous) if n not in (KEY, *ds.key)]
    delta, carried = diff(table, good, previous, compare, lookup.positions if lookup else None)
    if partial or bad_count == table.num_rows:
        # Some rows only, or no good row at all: neither can say what is gone.
        delta.removed, delta.carried, carried = None, 0, None
    if good is None:
        bad = table.slice(0, 0).append_column(ROW, pa.array([], pa.int64()))
    else:
        # The first bad rows are kept for reprocessing; the rest are counted.
        rows = pc.indices_nonzero(checked.bad).slice(0, limits.kept_bad_rows)
        bad = take(table, rows).append_column(ROW, rows.cast(pa.int64()))
    return Plan(dataset=ds, rows_read=table.num_rows, bad=bad, reasons=checked.reasons, delta=delta,
                table=table, good_mask=good, carried=carried, partial=partial, previous=previous, stale=stale,
                bad_count=bad_count, reason_counts=sink.summary())


def _union(current: pa.Table, previous: Previous | None) -> list[str]:
    names = list(current.column_names)
    if previous is not None:
        names += [n for n in previous.column_names if n not in names]
    return names
