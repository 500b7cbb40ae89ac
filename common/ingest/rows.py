"""Picking a few rows out of a dump's columns. The dump is held as the record
batches it was read in, and Arrow's `take` on a chunked column concatenates
every chunk first: a copy of the whole column (the whole table, for a table)
to pick a thousand rows. Here each chunk gives its own rows."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pyarrow as pa

Picked = TypeVar("Picked", pa.Table, pa.ChunkedArray, pa.Array)


def take(values: Picked, rows: np.ndarray | pa.Array) -> Picked:
    """`values[rows]`, in the order of `rows` (which may repeat a row)."""
    if not isinstance(rows, np.ndarray):
        rows = rows.to_numpy(zero_copy_only=False)
    rows = rows.astype(np.int64, copy=False)
    if isinstance(values, pa.Array):
        return values.take(pa.array(rows))
    parts = values.to_batches() if isinstance(values, pa.Table) else values.chunks
    if len(parts) <= 1:
        return values.take(pa.array(rows))
    starts = np.cumsum([0] + [len(p) for p in parts])
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    cuts = np.searchsorted(ordered, starts)
    picked = [parts[i].take(pa.array(ordered[cuts[i]:cuts[i + 1]] - starts[i]))
              for i in range(len(parts)) if cuts[i + 1] > cuts[i]]
    if isinstance(values, pa.Table):
        out = pa.Table.from_batches(picked, values.schema) if picked else values.slice(0, 0)
    else:
        out = pa.chunked_array(picked, values.type)
    if np.array_equal(order, np.arange(len(rows))):
        return out
    # Back from file order into the order asked for.
    return out.take(pa.array(np.argsort(order, kind="stable")))
