"""One dump from file to plan: read and normalize batch by batch, check every
row, split good from bad, and diff the good rows against the previous
snapshot. Pure Arrow and no writes: the handler applies the plan, and
bench/ingest.py times exactly this."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from common.domain.models import Reason
from common.ingest.delta import Delta, diff
from common.ingest.delta import lookup as lookup_index
from common.ingest.reader import BATCH_ROWS, Source, check_file, iter_normalized
from common.ingest.schema import DatasetSchema
from common.ingest.validate import KEY, ROW, Lookup, Resolver, check_rows, row_keys


@dataclass
class Plan:
    dataset: DatasetSchema
    rows_read: int
    bad: pa.Table  # the bad rows as they were normalized, with ROW
    reasons: list[Reason]
    delta: Delta
    table: pa.Table  # every row, normalized
    good_mask: pa.ChunkedArray | pa.Array | None  # None: every row is good
    carried: pa.Table | None  # previous rows whose keys came only in bad rows
    partial: bool = False  # some rows of the dataset (reprocessing), not a whole dump
    previous: pa.Table | None = None
    stale: int = 0  # partial: rows older than what the snapshot holds, left out

    def snapshot(self) -> pa.Table:
        """What the previous snapshot becomes once the plan is applied: the
        good rows and the carried ones. Built only when it is written."""
        good = self.table if self.good_mask is None else self.table.filter(self.good_mask)
        if self.partial and self.previous is not None:
            others = self.previous.filter(pc.invert(pc.is_in(self.previous[KEY], value_set=good[KEY])))
            return pa.concat_tables([good, _conform(others, good)], promote_options="permissive")
        if self.carried is None or self.carried.num_rows == 0:
            return good
        return pa.concat_tables([good, _conform(self.carried, good)], promote_options="permissive")

    @property
    def quarantined(self) -> int:
        return int(self.bad.num_rows)


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


def with_keys(table: pa.Table, ds: DatasetSchema) -> pa.Table:
    """A snapshot as read back, with its KEY column."""
    if KEY in table.column_names:
        return table
    return table.append_column(KEY, row_keys([table[k] for k in ds.key]))


def plan(source: Source, ds: DatasetSchema, previous: pa.Table | None, resolve: Resolver | None = None,
         batch_rows: int = BATCH_ROWS, partial: bool = False) -> Plan:
    """Raises `reader.Rejected` when the whole file is refused. `partial`: the
    file holds some rows only (reprocessed bad rows): nothing is removed, and
    a row older than the snapshot's row of its key is left out as stale."""
    opened = check_file(source, ds)
    batches: list[pa.RecordBatch] = []
    invalid: list[pa.Array] = []
    earlier: list[Reason] = []
    for part in iter_normalized(opened, ds, batch_rows):
        batches.append(part.batch)
        invalid.append(part.invalid)
        earlier.extend(part.reasons)
    table = pa.Table.from_batches(batches)
    del batches
    lookup = None
    if previous is not None:
        # An empty snapshot too: a partial plan's snapshot() filters it by KEY.
        previous = with_keys(previous, ds)
        if previous.num_rows:
            lookup = Lookup(lookup_index(table[KEY], previous[KEY]), previous.num_rows)
    checked = check_rows(table, ds, pa.chunked_array(invalid, pa.bool_()), resolve, earlier, lookup)

    good = pc.invert(checked.bad) if checked.reasons else None
    stale = 0
    if partial and lookup is not None and previous is not None and ds.version:
        older = pc.fill_null(pc.less(table[ds.version], previous[ds.version].take(lookup.index)), False)
        older = older if good is None else pc.and_(good, older)
        stale = int(pc.sum(older).as_py() or 0)
        if stale:
            good = pc.invert(older) if good is None else pc.and_(good, pc.invert(older))
    compare = [n for n in _union(table, previous) if n not in (KEY, *ds.key)]
    delta, carried = diff(table, good, previous, compare, lookup.index if lookup else None)
    if partial:
        delta.removed, delta.carried, carried = None, 0, None
    if good is None:
        bad = table.slice(0, 0).append_column(ROW, pa.array([], pa.int64()))
    else:
        bad = table.filter(checked.bad)
        bad = bad.append_column(ROW, pc.indices_nonzero(checked.bad).cast(pa.int64()))
    return Plan(dataset=ds, rows_read=table.num_rows, bad=bad, reasons=checked.reasons, delta=delta,
                table=table, good_mask=good, carried=carried, partial=partial, previous=previous, stale=stale)


def _union(current: pa.Table, previous: pa.Table | None) -> list[str]:
    names = list(current.column_names)
    if previous is not None:
        names += [n for n in previous.column_names if n not in names]
    return names
