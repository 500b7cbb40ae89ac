"""The delta of a dump against the previous snapshot, as a columnar join:
one hash lookup of every current key in the previous keys (`index_in`), the
previous rows taken into line with the current ones, then one vectorized
comparison per column. Python only touches changed rows when asked which
columns changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.ingest.validate import KEY

# pa.Array | pa.ChunkedArray; pyarrow ships without type information.
Column: TypeAlias = Any


@dataclass
class Delta:
    new: pa.Table
    changed: pa.Table
    previous_of_changed: pa.Table  # the previous rows of `changed`, in the same order
    masks: dict[str, Column] = field(default_factory=dict)  # column -> changed? per row of `changed`
    unchanged: int = 0
    removed: pa.Table | None = None
    carried: int = 0  # previous rows kept because this dump's rows of their key were bad

    @property
    def removed_count(self) -> int:
        return 0 if self.removed is None else self.removed.num_rows

    def column_counts(self) -> dict[str, int]:
        """How many changed rows changed each column."""
        return {name: int(pc.sum(mask).as_py() or 0) for name, mask in self.masks.items()
                if pc.any(mask).as_py()}

    def changed_columns(self) -> dict[str, list[str]]:
        """Changed row key -> the columns that changed, in column order."""
        out: dict[str, list[str]] = {k: [] for k in self.changed[KEY].to_pylist()}
        keys = self.changed[KEY]
        for name, mask in self.masks.items():
            for key in keys.filter(mask).to_pylist():
                out[key].append(name)
        return out


def lookup(keys: Column, previous_keys: Column) -> Column:
    """For each key, its position in `previous_keys` (unique), null when absent:
    a left outer hash join (multi-threaded in Arrow's engine, about twice as
    fast here as `index_in`), its output scattered back into row order."""
    n = len(keys)
    left = pa.table({"k": keys, "i": pa.array(np.arange(n, dtype=np.int64))})
    right = pa.table({"k": previous_keys, "j": pa.array(np.arange(len(previous_keys), dtype=np.int32))})
    joined = left.join(right, "k", join_type="left outer", use_threads=True)
    if joined.num_rows != n:  # previous keys not unique: not ours, but answer as index_in would
        return pc.index_in(keys, value_set=previous_keys)
    position = np.full(n, -1, dtype=np.int32)
    position[joined["i"].to_numpy()] = joined["j"].fill_null(-1).to_numpy()
    return pa.array(position, mask=position < 0)


def _indices(a: Column, b: Column) -> tuple[Column, Column]:
    """Dictionary columns as indices into one shared dictionary, so equal
    strings compare as equal integers without being materialized."""
    a_chunks = a.chunks if isinstance(a, pa.ChunkedArray) else [a]
    b_chunks = b.chunks if isinstance(b, pa.ChunkedArray) else [b]
    unified = pa.table({"c": pa.chunked_array(a_chunks + b_chunks, a.type)}).unify_dictionaries()["c"].chunks
    first = [c.indices for c in unified[:len(a_chunks)]]
    second = [c.indices for c in unified[len(a_chunks):]]
    return pa.chunked_array(first, pa.int32()), pa.chunked_array(second, pa.int32())


def _differs(a: Column, b: Column) -> Column:
    """Per row: do a and b differ? Two nulls are equal, and so are two NaNs."""
    if pa.types.is_nested(a.type) or pa.types.is_nested(b.type):
        # Arrow has no comparison kernel for lists and structs; these only come
        # as extra columns, so this slow path never touches the contract's columns.
        return pa.array([x != y for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)], pa.bool_())
    if pa.types.is_null(a.type) or pa.types.is_null(b.type):
        # An all-null column (type null) has no comparison kernel: only values against nulls differ.
        return pc.xor(pc.is_valid(a), pc.is_valid(b))
    if pa.types.is_dictionary(a.type) and a.type == b.type:
        a, b = _indices(a, b)
    nan_both = pa.types.is_floating(a.type) and pc.any(pc.is_nan(b)).as_py()
    if not nan_both and (a.null_count == 0 or b.null_count == 0):
        # Two nulls cannot meet: one null against a value is a change.
        return pc.fill_null(pc.not_equal(a, b), True)
    both = pc.and_(pc.is_valid(a), pc.is_valid(b))
    neq = pc.not_equal(a, b)
    if pa.types.is_floating(a.type):
        neq = pc.and_(neq, pc.invert(pc.and_(pc.is_nan(a), pc.is_nan(b))))
    return pc.if_else(both, neq, pc.xor(pc.is_valid(a), pc.is_valid(b)))


def _aligned(previous: Column, current: Column) -> Column | None:
    if previous.type == current.type:
        return previous
    try:
        return previous.cast(current.type)
    except (pa.ArrowException, ValueError):
        return None


def diff(table: pa.Table, good: Column | None, previous: pa.Table | None,
         compare: list[str], index: Column | None = None) -> tuple[Delta, pa.Table | None]:
    """`table`: every row of the dump, with KEY; `good`: which rows passed the
    row checks (None: all did). A previous key that the dump holds only in bad
    rows is neither changed nor removed: its previous row is carried into the
    new snapshot as it was.

    Every current row is looked up once in the previous keys and the previous
    rows are taken into line with the current ones, so the comparison runs
    over whole columns and only the few new, changed and removed rows are
    ever copied out. Returns the delta and the previous rows carried over."""
    if good is None:
        good = pc.is_valid(table[KEY])
    if previous is None or previous.num_rows == 0:
        empty = table.slice(0, 0)
        return Delta(new=table.filter(good), changed=empty, previous_of_changed=empty), None
    prev_keys = previous[KEY]
    if index is None:
        index = lookup(table[KEY], prev_keys)
    found = pc.is_valid(index)
    matched = pc.and_(good, found)
    # Keys match by construction: only the compared columns are taken into line.
    # New rows point at row 0 (masked out below): a take without nulls is cheaper.
    taken = previous.select([n for n in compare if n in previous.column_names]).take(pc.fill_null(index, 0))

    masks: dict[str, Column] = {}
    any_change: Column | None = None
    for name in compare:
        current = table[name] if name in table.column_names else None
        before = taken[name] if name in taken.column_names else None
        if current is None and before is not None:
            mask = pc.is_valid(before)
        elif before is None and current is not None:
            mask = pc.is_valid(current)
        elif current is not None and before is not None:
            aligned = _aligned(before, current)
            # A column that changed type: every row with a value there changed.
            mask = (pc.or_(pc.is_valid(current), pc.is_valid(before)) if aligned is None
                    else _differs(current, aligned))
        else:
            continue
        masks[name] = mask
        any_change = mask if any_change is None else pc.or_(any_change, mask)

    changed_mask = matched if any_change is None else pc.and_(matched, pc.fill_null(any_change, False))
    changed_count = int(pc.sum(changed_mask).as_py() or 0)
    delta = Delta(new=table.filter(pc.and_(good, pc.invert(found))),
                  changed=table.filter(changed_mask),
                  previous_of_changed=taken.filter(changed_mask),
                  masks={n: pc.fill_null(m, False).filter(changed_mask) for n, m in masks.items()},
                  unchanged=int(pc.sum(matched).as_py() or 0) - changed_count)

    # Which previous rows the dump still holds (good or bad): a scatter over their positions.
    hit = np.zeros(previous.num_rows, dtype=bool)
    hit[pc.drop_null(index).to_numpy(zero_copy_only=False)] = True
    delta.removed = previous.take(pa.array(np.flatnonzero(~hit)))
    bad_hits = pc.drop_null(index.filter(pc.and_(pc.invert(good), found)))
    carried = None
    if len(bad_hits):
        carried = previous.take(pc.unique(bad_hits))
        delta.carried = carried.num_rows
    return delta, carried
