"""The delta of a dump against the previous snapshot, as a columnar join on
the keys only: every current key is looked up once in the previous keys
(`positions`), then each compared column is checked in one vectorized pass
against the previous column gathered at those positions. Python only touches
changed rows when asked which columns changed.

The lookup leans on how dumps arrive: consecutive exports of one system keep
their row order (a few rows inserted, removed or moved), and the snapshot is
written in the order of the dump it came from. So most keys sit at their
previous position plus a slowly drifting offset: a few sampled keys give the
offsets (anchors), one string comparison per row confirms them, and only the
rows that do not line up are hashed. A hash table over all the previous keys
(a million strings: its probes miss the cache) is built only when the dump
is not in the previous order; the answer is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.ingest.rows import take
from common.ingest.validate import KEY

# pa.Array | pa.ChunkedArray; pyarrow ships without type information.
Column: TypeAlias = Any

# One previous key in ANCHOR_STRIDE is looked for in the dump: a hash table
# that small stays in the cache, and an anchor every 32 rows pins the offset
# between two edits of the row order.
ANCHOR_STRIDE = 32
ALIGN_MIN_ROWS = 4 * ANCHOR_STRIDE
ALIGN_BLOCK = 64 * 1024  # rows compared at a time in the first pass
FINGERPRINTS = 32  # buckets the sample of anchors is drawn from
ANCHOR_STRIDE_BOUND = 4  # a bucket over 4 times the wanted sample: the keys' bytes do not spread
# The rows left unaligned past which the dump is taken as reordered and joined
# by hash instead (what is left is looked up by hash either way).
MAX_UNALIGNED_SHARE = 0.25


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


# ------------------------------------------------------------------ key lookup
def lookup(keys: Column, previous_keys: Column) -> Column:
    """For each key, its position in `previous_keys` (unique), null when absent."""
    found = positions(keys, previous_keys)
    return pa.array(found, mask=found < 0)


def positions(keys: Column, previous_keys: Column) -> np.ndarray:
    """For each key, its position in `previous_keys` (unique), -1 when absent
    (a null key is never found)."""
    aligned = _aligned_positions(keys, previous_keys)
    return aligned if aligned is not None else _joined_positions(keys, previous_keys)


def _filled(values: Column, fill: int) -> np.ndarray:
    out: np.ndarray = pc.fill_null(values, fill).to_numpy(zero_copy_only=False)
    return out


def _single(values: Column) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _joined_positions(keys: Column, previous_keys: Column) -> np.ndarray:
    """A left outer hash join (multi-threaded in Arrow's engine, about twice as
    fast here as `index_in`), its output scattered back into row order."""
    n = len(keys)
    left = pa.table({"k": keys, "i": pa.array(np.arange(n, dtype=np.int64))})
    right = pa.table({"k": previous_keys, "j": pa.array(np.arange(len(previous_keys), dtype=np.int64))})
    joined = left.join(right, "k", join_type="left outer", use_threads=True)
    if joined.num_rows != n:  # previous keys not unique: not ours, but answer as index_in would
        return _filled(pc.index_in(keys, value_set=previous_keys), -1).astype(np.int64)
    found = np.full(n, -1, dtype=np.int64)
    found[joined["i"].to_numpy()] = _filled(joined["j"], -1)
    return found


def _aligned_positions(keys: Column, previous_keys: Column) -> np.ndarray | None:
    """The lookup for a dump in (about) the previous order, or None when it is
    not in that order or the previous keys turn out not unique."""
    n, m = len(keys), len(previous_keys)
    if min(n, m) < ALIGN_MIN_ROWS:
        return None
    current, before = _single(keys), _single(previous_keys)
    if current.type != before.type or not (pa.types.is_string(current.type)
                                           or pa.types.is_large_string(current.type)):
        return None
    anchors, offsets = _anchors(current, before)
    if len(anchors) < 2 or 2 * np.count_nonzero(offsets[1:] == offsets[:-1]) < len(anchors):
        return None  # the offset jumps from anchor to anchor: not the previous order
    # Every row on the offset of the last anchor at or before it, a block of
    # rows at a time (the guessed previous keys are copied out to be compared:
    # a block's worth, not the whole column), then the rows that missed on
    # the next anchor's (an edit in between).
    found = np.full(n, -1, dtype=np.int64)
    missed = []
    for start in range(0, n, ALIGN_BLOCK):
        rows = np.arange(start, min(start + ALIGN_BLOCK, n), dtype=np.int64)
        segment = np.maximum(np.searchsorted(anchors, rows, side="right") - 1, 0)
        guess = np.clip(rows + offsets[segment], 0, m - 1)
        same = _filled(pc.equal(current.slice(start, len(rows)), before.take(pa.array(guess))), False)
        found[rows[same]] = guess[same]
        missed.append(rows[~same])
    todo = np.concatenate(missed)
    nxt = np.minimum(np.maximum(np.searchsorted(anchors, todo, side="right"), 1), len(anchors) - 1)
    todo = todo[~_confirm(current, before, found, todo, todo + offsets[nxt])]
    # Rows between two edits close together: one or two off either aligned
    # neighbour's offset.
    aligned = np.flatnonzero(found >= 0)
    if len(todo) and len(aligned):
        at = np.searchsorted(aligned, todo)
        neighbours = (aligned[np.minimum(at, len(aligned) - 1)], aligned[np.maximum(at - 1, 0)])
        offsets_of = [found[row] - row for row in neighbours]
        for shift in (1, -1, 2, -2):
            for side in range(len(offsets_of)):
                if not len(todo):
                    break
                same = _confirm(current, before, found, todo, todo + offsets_of[side] + shift)
                todo = todo[~same]
                offsets_of = [o[~same] for o in offsets_of]
    if len(todo) > MAX_UNALIGNED_SHARE * n:
        return None
    return _settle(current, before, found, todo)


def _anchors(current: pa.Array, before: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose key is one of a sample of the previous keys, and the offset
    to their previous row. The sample is chosen by the keys' own bytes (the
    same on both sides), so only a sample of the dump is probed too; keys
    whose bytes do not spread (every key ending alike) take every
    ANCHOR_STRIDE-th previous key instead and probe the whole dump."""
    mine, theirs = _fingerprints(current), _fingerprints(before)
    if mine is not None and theirs is not None:
        counts = np.bincount(theirs, minlength=FINGERPRINTS)
        bucket = int(np.argmin(np.abs(counts - len(before) / ANCHOR_STRIDE)))
        if 0 < counts[bucket] <= ANCHOR_STRIDE_BOUND * len(before) / ANCHOR_STRIDE:
            rows, sample = np.flatnonzero(mine == bucket), np.flatnonzero(theirs == bucket)
            at = _filled(pc.index_in(current.take(pa.array(rows)), value_set=before.take(pa.array(sample))), -1)
            hit = at >= 0
            return rows[hit], sample[at[hit]] - rows[hit]
    sample = np.arange(0, len(before), ANCHOR_STRIDE)
    at = _filled(pc.index_in(current, value_set=before.take(pa.array(sample))), -1)
    rows = np.flatnonzero(at >= 0)
    return rows, sample[at[rows]] - rows


def _fingerprints(values: pa.Array) -> np.ndarray | None:
    """0..FINGERPRINTS-1 per string from its last two bytes, read from the
    Arrow buffers (no string is materialized); None for an array without
    string data. Null and short strings get whatever their neighbours'
    bytes give: fewer anchors at worst, never a wrong match."""
    offsets_buffer, data_buffer = values.buffers()[1:3]
    if data_buffer is None or data_buffer.size < 2:
        return None
    wide = np.int64 if pa.types.is_large_string(values.type) else np.int32
    ends = np.frombuffer(offsets_buffer, dtype=wide, count=len(values),
                         offset=(values.offset + 1) * np.dtype(wide).itemsize)
    data = np.frombuffer(data_buffer, dtype=np.uint8)
    # uint8 arithmetic wraps: only the low bits are kept anyway.
    mixed: np.ndarray = data[ends - 1] + data[ends - 2] * np.uint8(3)
    return mixed & np.uint8(FINGERPRINTS - 1)


def _confirm(current: pa.Array, before: pa.Array, found: np.ndarray, rows: np.ndarray,
             guess: np.ndarray) -> np.ndarray:
    """Set `found` where the guessed previous row holds the row's key; returns
    which of `rows` did."""
    at = np.clip(guess, 0, len(before) - 1)
    mine = current if len(rows) == len(current) else current.take(pa.array(rows))
    same = _filled(pc.equal(mine, before.take(pa.array(at))), False)
    found[rows[same]] = at[same]
    return same


def _settle(current: pa.Array, before: pa.Array, found: np.ndarray, todo: np.ndarray) -> np.ndarray | None:
    """The rows that did not line up: moved rows, looked up among the previous
    rows no row lined up with (a small set), then new keys and second
    occurrences of keys that did line up, told apart by one probe of the
    dump's keys against what is left (a small set too: never a hash table of
    every previous key). Returns None when the previous keys turn out not
    unique."""
    left = current.take(pa.array(todo))
    valid = _filled(pc.is_valid(left), False)
    todo, left = todo[valid], left.filter(pa.array(valid))
    unhit = _unhit(found, len(before))
    if len(todo) and len(unhit):
        # Moved rows: their previous rows are among those no row lined up with.
        at = _filled(pc.index_in(left, value_set=before.take(pa.array(unhit))), -1)
        moved = at >= 0
        found[todo[moved]] = unhit[at[moved]]
        todo, left = todo[~moved], left.filter(pa.array(~moved))
        unhit = _unhit(found, len(before))
    # What is left of the dump is new or a second occurrence of a key found
    # above, and no dump row may hold a previous key still unmatched (that
    # key would be twice in the previous snapshot): one probe tells both.
    wanted = pc.unique(left)
    missed = pc.drop_null(before.take(pa.array(unhit)))
    if not len(wanted) and not len(missed):
        return found
    group = _filled(pc.index_in(current, value_set=pa.concat_arrays([wanted, missed.cast(wanted.type)])), -1)
    if np.any(group >= len(wanted)):
        return None  # a key twice in the previous snapshot: not ours; the join answers
    if len(todo):
        twin = np.full(len(wanted), -1, dtype=np.int64)
        rows = np.flatnonzero((group >= 0) & (found >= 0))
        twin[group[rows]] = found[rows]
        found[todo] = twin[_filled(pc.index_in(left, value_set=wanted), -1)]
    return found


def _unhit(found: np.ndarray, size: int) -> np.ndarray:
    hit = np.zeros(size, dtype=bool)
    hit[found[found >= 0]] = True
    return np.flatnonzero(~hit)


# ------------------------------------------------------------------ comparison
def _chunks(values: Column) -> list[pa.Array]:
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]


def _dictionary_codes(chunk: pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """A dictionary chunk's values as positions in `vocabulary` (null: -1):
    its own indices when its dictionary is the vocabulary's start (the usual
    case: one dictionary per column in a file), else through a small map."""
    dictionary = chunk.dictionary
    indices: np.ndarray = (_filled(chunk.indices, -1) if chunk.indices.null_count
                           else chunk.indices.to_numpy())
    position = _filled(pc.index_in(dictionary, value_set=vocabulary), -1)
    if dictionary.null_count:
        position[_filled(pc.is_null(dictionary), False)] = -1  # a null entry is a null value
    elif np.array_equal(position, np.arange(len(position))):
        return indices
    # Index -1 (a null) lands on the -1 appended.
    mapped: np.ndarray = np.append(position, -1)[indices]
    return mapped


def _numeric(t: pa.DataType) -> bool:
    """Fixed-width types that numpy compares as Arrow does (on their bits, for instants)."""
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                or (pa.types.is_temporal(t) and not pa.types.is_interval(t)))


def _numbers(values: Column) -> tuple[np.ndarray, np.ndarray | None]:
    """A `_numeric` column as numpy (nulls as zeros) and where it is valid
    (None: no null)."""
    t = values.type
    if pa.types.is_temporal(t):
        values = values.cast(pa.int32() if t.bit_width == 32 else pa.int64())
    valid = None
    if values.null_count:
        valid = _filled(pc.is_valid(values), False)
        values = pc.fill_null(values, False if pa.types.is_boolean(t) else 0)
    array: np.ndarray = values.to_numpy(zero_copy_only=False)
    return array, valid


def _changed(current: Column, before: Column, at: np.ndarray) -> np.ndarray:
    """Per current row: does it differ from `before`'s row at `at`? Two nulls
    are equal, and so are two NaNs. On integers where the values allow
    (dictionary codes, the bits of numbers and instants), chunk by chunk of
    the dump; strings and the rest in Arrow."""
    mine_chunks = _chunks(current)
    if pa.types.is_dictionary(current.type) and current.type == before.type:
        their_chunks = _chunks(before)
        vocabulary = pc.unique(pa.chunked_array([c.dictionary for c in their_chunks + mine_chunks],
                                                current.type.value_type))
        theirs = np.concatenate([_dictionary_codes(c, vocabulary) for c in their_chunks])
        return _chunkwise(mine_chunks, at, lambda chunk, where: _dictionary_codes(chunk, vocabulary) != theirs[where])
    if not _numeric(current.type) or current.type != before.type:
        # Strings and the rest: the previous values gathered a chunk of the dump at a time.
        before = _single(before)
        return _chunkwise(mine_chunks, at, lambda chunk, where: _filled(
            _differs(chunk, before.take(pa.array(where))), False))
    theirs, their_valid = _numbers(before)

    def compare(chunk: pa.Array, where: np.ndarray) -> np.ndarray:
        mine, mine_valid = _numbers(chunk)
        theirs_at = theirs[where]
        differs: np.ndarray = mine != theirs_at
        if mine.dtype.kind == "f":
            # NaN != NaN in numpy: look again at the few rows that differ.
            rows = np.flatnonzero(differs)
            differs[rows[np.isnan(mine[rows]) & np.isnan(theirs_at[rows])]] = False
        if mine_valid is not None or their_valid is not None:
            valid = np.ones(len(differs), dtype=bool) if mine_valid is None else mine_valid
            valid_before = np.ones(len(differs), dtype=bool) if their_valid is None else their_valid[where]
            differs = (differs & valid & valid_before) | (valid ^ valid_before)
        return differs

    return _chunkwise(mine_chunks, at, compare)


def _chunkwise(chunks: list[pa.Array], at: np.ndarray,
               compare: Callable[[pa.Array, np.ndarray], np.ndarray]) -> np.ndarray:
    """`compare(chunk, previous positions of its rows)` over the dump's
    chunks, into one mask: no copy of the dump's column is made."""
    out = np.empty(len(at), dtype=bool)
    start = 0
    for chunk in chunks:
        end = start + len(chunk)
        out[start:end] = compare(chunk, at[start:end])
        start = end
    return out


def _differs(a: Column, b: Column) -> Column:
    """Per row: do a and b differ? Two nulls are equal, and so are two NaNs.
    The general case (strings, nested and decimal columns), in Arrow."""
    if pa.types.is_nested(a.type) or pa.types.is_nested(b.type):
        # Arrow has no comparison kernel for lists and structs; these only come
        # as extra columns, so this slow path never touches the contract's columns.
        return pa.array([x != y for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True)], pa.bool_())
    if pa.types.is_null(a.type) or pa.types.is_null(b.type):
        # An all-null column (type null) has no comparison kernel: only values against nulls differ.
        return pc.xor(pc.is_valid(a), pc.is_valid(b))
    if pa.types.is_dictionary(a.type):
        a, b = a.cast(a.type.value_type), b.cast(b.type.value_type)
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


def _valid(values: Column) -> np.ndarray:
    return _filled(pc.is_valid(values), False)


class Previous(Protocol):
    """The previous snapshot as the delta reads it, a column at a time: a
    `pa.Table`, or the snapshot file itself (`snapshots.SnapshotFile`), whose
    columns are read as they are compared, so that its rows are never all in
    memory. Its columns include KEY."""

    @property
    def num_rows(self) -> int: ...
    @property
    def column_names(self) -> list[str]: ...
    def column(self, name: str) -> Column: ...


def _one_ahead(previous: Previous, names: list[str]) -> Iterator[tuple[str, Column | None]]:
    """Each previous column in turn (None: not there), the next one read
    while this one is compared (reading and comparing release the GIL)."""
    present = set(previous.column_names)

    def read(name: str) -> Column | None:
        return previous.column(name) if name in present else None

    if isinstance(previous, pa.Table):
        for name in names:
            yield name, read(name)
        return
    with ThreadPoolExecutor(max_workers=1) as reader:
        ahead: Future[Column | None] | None = reader.submit(read, names[0]) if names else None
        for i, name in enumerate(names):
            assert ahead is not None
            column = ahead.result()
            ahead = reader.submit(read, names[i + 1]) if i + 1 < len(names) else None
            yield name, column
            del column


def _previous_at(changed: np.ndarray, differs: np.ndarray, rows: np.ndarray, values: Column,
                 current: Column | None, kind: pa.DataType) -> Column:
    """A previous column at the changed rows: its own value where the column
    differs (`values`, gathered at `rows` while it was compared), the dump's
    where it does not (equal by the comparison's rules; null where the dump
    has no such column or no value of its type)."""
    base: Column = pa.nulls(len(changed), kind)
    if current is not None:
        base = take(current, changed)
        if base.type != kind:
            try:
                base = base.cast(kind)
            except (pa.ArrowException, ValueError):
                base = pa.nulls(len(changed), kind)  # a type change: the rows equal here are null on both sides
    own = differs[changed]
    if not own.any():
        return base
    picked = take(values, np.searchsorted(rows, changed[own]))
    where = np.arange(len(changed), dtype=np.int64)
    where[own] = len(changed) + np.arange(int(own.sum()), dtype=np.int64)
    return pa.chunked_array(_chunks(base) + _chunks(picked), kind).take(pa.array(where))


def diff(table: pa.Table, good: Column | None, previous: Previous | None,
         compare: list[str], index: Column | np.ndarray | None = None) -> tuple[Delta, pa.Table | None]:
    """`table`: every row of the dump, with KEY; `good`: which rows passed the
    row checks (None: all did). A previous key that the dump holds only in bad
    rows is neither changed nor removed: its previous row is carried into the
    new snapshot as it was. `index`: each row's position in `previous`
    (`positions`, or `lookup`'s nullable form), looked up when not given.

    The previous snapshot is read one column at a time: each compared column
    is gathered at the positions and compared in one pass, then dropped. The
    previous rows that are copied out (removed, carried, and the changed
    rows' previous values) are gathered from each column as it goes by: which
    rows are removed or carried is known from the positions; a changed row's
    previous value is taken where its column differs and is the dump's own
    where it does not. Returns the delta and the previous rows carried over."""
    good_rows = _filled(good, False) if good is not None else _valid(table[KEY])
    if previous is None or previous.num_rows == 0:
        empty = table.slice(0, 0)
        return Delta(new=table.filter(pa.array(good_rows)), changed=empty, previous_of_changed=empty), None
    if index is None:
        found = positions(table[KEY], previous.column(KEY))
    else:
        found = index if isinstance(index, np.ndarray) else _filled(index, -1).astype(np.int64)
    present = found >= 0
    matched = good_rows & present
    # New rows point at row 0 (masked out by `matched`): a gather without holes.
    at = np.where(present, found, 0)
    removed = _unhit(found, previous.num_rows)
    bad_hits = found[~good_rows & present]
    _, first = np.unique(bad_hits, return_index=True)
    carried_rows = bad_hits[np.sort(first)]  # in the order the dump first names them
    out_rows = np.concatenate([removed, carried_rows])

    masks: dict[str, np.ndarray] = {}
    copied: dict[str, Column] = {}  # previous column -> its removed and carried rows
    differing: dict[str, tuple[np.ndarray, Column, pa.DataType]] = {}  # -> rows that differ, their values, type
    any_change = np.zeros(table.num_rows, dtype=bool)
    for name, before in _one_ahead(previous, list(dict.fromkeys([*previous.column_names, *compare]))):
        if before is not None:
            copied[name] = take(before, out_rows)
        if name not in compare:
            continue
        current = table[name] if name in table.column_names else None
        if current is None and before is not None:
            mask = _valid(before)[at]
        elif before is None and current is not None:
            mask = _valid(current)
        elif current is not None and before is not None:
            aligned = _aligned(before, current)
            # A column that changed type: every row with a value there changed.
            mask = (_valid(current) | _valid(before)[at]) if aligned is None else _changed(current, aligned, at)
        else:
            continue
        masks[name] = mask
        any_change |= mask
        if before is not None:
            rows = np.flatnonzero(mask & matched)
            differing[name] = (rows, take(before, at[rows]), before.type)

    changed = np.flatnonzero(matched & any_change)
    masks = {n: masks[n] for n in compare if n in masks}  # in the compared columns' order
    kept = [n for n in compare if n in differing]
    previous_of_changed = pa.table({
        n: _previous_at(changed, masks[n], differing[n][0], differing[n][1],
                        table[n] if n in table.column_names else None, differing[n][2]) for n in kept}
    ) if kept else take(table.select([]), changed)
    delta = Delta(new=take(table, np.flatnonzero(good_rows & ~present)),
                  changed=take(table, changed),
                  previous_of_changed=previous_of_changed,
                  masks={n: pa.array(m[changed]) for n, m in masks.items()},
                  unchanged=int(np.count_nonzero(matched)) - len(changed))
    out = pa.table({n: copied[n] for n in previous.column_names})
    delta.removed = out.slice(0, len(removed))
    carried = None
    if len(carried_rows):
        carried = out.slice(len(removed))
        delta.carried = carried.num_rows
    return delta, carried
