"""Validation with Arrow compute over whole columns: the file's schema, then
every row check as one vectorized mask per column and rule. Python only
touches the rows that turn out bad, to word their reasons.

Rows are numbered from 0 in file order. A row may carry several reasons.
Duplicate keys: every occurrence of a key that appears more than once is a
bad row (which one is right cannot be known; keeping the first would load an
arbitrary one).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.domain.models import Reason
from common.ingest.limits import ReasonSink
from common.ingest.rows import take
from common.ingest.schema import Column, DatasetSchema, Kind

KEY = "__key"  # the row's key as one string (composite keys joined with KEY_SEP)
KEY_SEP = "|"
ROW = "__row"  # a bad row's number in its file, kept with it for reprocessing
RESERVED = frozenset({KEY, ROW})
MAX_INT64 = 2**63 - 1
# The instants a stored timestamp can hold (a datetime: years 1 to 9999), in
# each file unit since the epoch; beyond them a cast overflows or the value
# cannot leave Arrow, so such a value is a bad row, not a crash.
_FIRST_US, _LAST_US = -62_135_596_800_000_000, 253_402_300_799_999_999
_PER_UNIT_US = {"s": 1_000_000, "ms": 1_000, "us": 1}
_DAY_US = 86_400_000_000

# ref set name -> (unique non-null values to look up) -> the ones that exist
Resolver = Callable[[str, pa.Array], pa.Array]
_REF_WORDS = {"catalog": "the item catalogue", "warehouses": "the known warehouses"}


# ------------------------------------------------------------------ schema
def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def accepts(kind: Kind, t: pa.DataType) -> bool:
    """Can a file column of type `t` hold a `kind` value (CONTRACT.md type rules)?
    A number where a string is required is refused too: a numeric key would
    silently lose leading zeros."""
    t = _value_type(t)
    if pa.types.is_null(t):
        return True  # an all-null column: its rows fail the null check instead
    if kind is Kind.STRING:
        return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))
    if kind is Kind.DOUBLE:
        return bool(pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t))
    if kind is Kind.INT:  # floats are accepted; a value with a fraction is a bad row
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t))
    if kind is Kind.BOOL:
        return bool(pa.types.is_boolean(t))
    return bool(pa.types.is_timestamp(t) or pa.types.is_date(t))


_WANTED = {
    Kind.STRING: "string",
    Kind.DOUBLE: "a number (double)",
    Kind.INT: "an integer (any width)",
    Kind.BOOL: "bool",
    Kind.TIMESTAMP: "a timestamp (any unit, with or without time zone)",
}


def schema_problems(schema: pa.Schema, ds: DatasetSchema) -> list[Reason]:
    """File-level problems: any of them rejects the whole file."""
    reasons: list[Reason] = []
    names = list(schema.names)
    for name in sorted({n for n in names if names.count(n) > 1}):
        reasons.append(Reason(loc=["column", name], msg=f"column {name} appears {names.count(name)} times",
                              type="duplicate_column"))
    for column in ds.columns:
        if column.name not in names:
            reasons.append(Reason(loc=["column", column.name],
                                  msg=f"required column {column.name} ({column.kind.value}) is missing",
                                  type="missing_column"))
            continue
        found = schema.field(names.index(column.name)).type
        if not accepts(column.kind, found):
            reasons.append(Reason(loc=["column", column.name],
                                  msg=f"column {column.name} is {found}; {_WANTED[column.kind]} is required",
                                  type="wrong_type"))
    return reasons


# ------------------------------------------------------------- normalize
@dataclass
class Normalized:
    batch: pa.RecordBatch
    invalid: pa.Array  # bool per row: a value could not be converted
    nulled: dict[str, pa.Array] = field(default_factory=dict)  # column -> rows whose value could not be converted


def _first(mask: pa.Array | pa.ChunkedArray, n: int) -> pa.Array:
    """The row indices of the first `n` set entries of `mask` (never all of them)."""
    return pc.indices_nonzero(mask).slice(0, n)


def _convert(column: Column, values: pa.Array, offset: int, sink: ReasonSink) -> tuple[pa.Array, pa.Array | None]:
    """The column in its canonical type, and the rows whose value could not be
    converted (nulled, their reasons worded into `sink`), or None."""
    target = column.canonical
    t = _value_type(values.type)
    if column.categorical:
        return (values if values.type == target else pc.cast(values, target)), None
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    bad: pa.Array | None = None
    timestamp = False
    if column.kind is Kind.INT and pa.types.is_floating(t):
        fraction = pc.fill_null(pc.or_(pc.not_equal(pc.floor(values), values), pc.is_nan(values)), False)
        too_big = pc.fill_null(pc.greater(pc.abs(values), float(MAX_INT64) / 2), False)
        bad = pc.or_(fraction, too_big)
    elif column.kind is Kind.INT and t == pa.uint64():
        bad = pc.fill_null(pc.greater(values, pa.scalar(MAX_INT64, pa.uint64())), False)
    elif column.kind is Kind.TIMESTAMP:
        bad = _outside_dates(column, values, offset, sink)
        timestamp = True
    if bad is not None and not pc.any(bad).as_py():
        bad = None
    if bad is not None:
        if not timestamp:
            def words(n: int, v: pa.Array = values, b: pa.Array = bad) -> list[Reason]:
                rows = _first(b, n)
                return [Reason(loc=["row", offset + i, column.name], type="int_parsing",
                               msg=f"{column.name} {value} is not a 64-bit integer")
                        for i, value in zip(rows.to_pylist(), v.take(rows).to_pylist(), strict=True)]
            sink.add(column.name, "int_parsing", int(pc.sum(bad).as_py() or 0), words)
        values = pc.if_else(bad, pa.scalar(None, values.type), values)
    if column.kind is Kind.TIMESTAMP:
        # Naive means UTC; sub-microsecond digits are dropped.
        converted = pc.cast(values, options=pc.CastOptions(target, allow_time_truncate=True))
    elif column.kind is Kind.DOUBLE or (column.kind is Kind.INT and pa.types.is_floating(t)):
        converted = pc.cast(values, target, safe=False)
    else:
        converted = pc.cast(values, target)
    return converted, bad


def _outside_dates(column: Column, values: pa.Array, offset: int, sink: ReasonSink) -> pa.Array | None:
    """Timestamps before year 1 or after 9999, told from the raw integers."""
    t = values.type
    if pa.types.is_timestamp(t):
        if t.unit == "ns":
            return None  # 1677..2262: always storable
        per, unit = _PER_UNIT_US[t.unit], t.unit
        raw = values.view(pa.int64())
    elif pa.types.is_date32(t):
        per, unit, raw = _DAY_US, "days", values.view(pa.int32()).cast(pa.int64())
    elif pa.types.is_date64(t):
        per, unit, raw = 1_000, "ms", values.view(pa.int64())
    else:
        return None
    first, last = -(-_FIRST_US // per), _LAST_US // per
    bad = pc.fill_null(pc.or_(pc.less(raw, first), pc.greater(raw, last)), False)
    if not pc.any(bad).as_py():
        return None

    def words(n: int) -> list[Reason]:
        rows = _first(bad, n)
        return [Reason(loc=["row", offset + i, column.name],
                       msg=f"{column.name} {value} {unit} since 1970-01-01 is outside the years 1 to 9999",
                       type="out_of_range")
                for i, value in zip(rows.to_pylist(), raw.take(rows).to_pylist(), strict=True)]

    sink.add(column.name, "out_of_range", int(pc.sum(bad).as_py() or 0), words)
    return bad


def normalize_batch(batch: pa.RecordBatch, ds: DatasetSchema, offset: int, sink: ReasonSink) -> Normalized:
    """Cast the required columns to their canonical types (extra columns are
    kept, dictionaries decoded) and add the row key. Values that cannot be
    converted are worded into `sink` (sampled) and nulled."""
    arrays: list[pa.Array] = []
    names: list[str] = []
    invalid = pc.fill_null(pa.nulls(batch.num_rows, pa.bool_()), False)
    nulled: dict[str, pa.Array] = {}
    for name, values in zip(batch.schema.names, batch.columns, strict=True):
        if name in RESERVED:
            continue  # ours (a kept bad row's number, the key): never data
        column = ds.column(name)
        if column is None:
            arrays.append(values.dictionary_decode() if pa.types.is_dictionary(values.type) else values)
        else:
            values_out, bad = _convert(column, values, offset, sink)
            arrays.append(values_out)
            if bad is not None:
                nulled[name] = bad
                invalid = pc.or_(invalid, bad)
        names.append(name)
    arrays.append(row_keys([arrays[names.index(k)] for k in ds.key]))
    names.append(KEY)
    return Normalized(pa.RecordBatch.from_arrays(arrays, names=names), invalid, nulled)


def row_keys(parts: Sequence[pa.Array | pa.ChunkedArray]) -> pa.Array | pa.ChunkedArray:
    """One string per row (null when any key part is null)."""
    if len(parts) == 1:
        return parts[0]
    # The join has no kernel for dictionary columns (a categorical key part, e.g. warehouse_id).
    plain = [p.cast(_value_type(p.type)) if pa.types.is_dictionary(p.type) else p for p in parts]
    return pc.binary_join_element_wise(*plain, KEY_SEP)


# ------------------------------------------------------------------ rows
@dataclass
class RowCheck:
    """The outcome of the row checks over the whole file: every bad row
    marked, the first reasons worded and all of them counted (`sink`)."""

    bad: pa.ChunkedArray | pa.Array  # bool per row
    reasons: list[Reason] = field(default_factory=list)

    @property
    def bad_count(self) -> int:
        return int(pc.sum(self.bad).as_py() or 0)


def _reason(loc: list[str | int], msg: str, kind: str) -> Reason:
    """A row's reason, built from values of our own making: a file with
    thousands of bad rows words them without validating each one again."""
    return Reason.model_construct(loc=loc, msg=msg, type=kind)


def _label(key: object) -> str:
    return "(no key)" if key is None else str(key)


def check_rows(table: pa.Table, ds: DatasetSchema, invalid: pa.ChunkedArray | pa.Array,
               resolve: Resolver | None = None, sink: ReasonSink | None = None,
               lookup: Lookup | None = None,
               nulled: dict[str, pa.ChunkedArray | pa.Array] | None = None) -> RowCheck:
    """Null keys and values, value domains, references and duplicate keys,
    each one vectorized pass over a column. `lookup`: where each key sits in
    the previous snapshot, which makes the duplicate check nearly free."""
    keys = table[KEY]
    # (mask, column, problem type, message template with {key} and {value})
    found: list[tuple[pa.Array | pa.ChunkedArray, str, str, str]] = []

    # A rule whose column cannot break it (no null, no NaN, minimum and
    # maximum inside the bounds: counted, not scanned) adds no mask.
    for column in ds.columns:
        values = table[column.name]
        if values.null_count:
            missing = pc.is_null(values)
            if nulled and column.name in nulled:
                # A value that could not be converted was nulled: it is not also "missing".
                missing = pc.and_(missing, pc.invert(nulled[column.name]))
            if column.name in ds.key:
                found.append((missing, column.name, "missing", f"key {column.name} is null"))
            else:
                found.append((missing, column.name, "missing", "{key}: required value " + column.name + " is null"))
        if column.kind is Kind.DOUBLE and not _finite_sum(values):
            found.append((pc.fill_null(pc.is_nan(values), False), column.name, "nan",
                          "{key}: " + column.name + " is NaN"))
        if _within(values, column.minimum, column.maximum):
            continue
        bounds = []
        if column.minimum is not None:
            bounds.append(pc.less(values, pa.scalar(column.minimum).cast(values.type)))
        if column.maximum is not None:
            bounds.append(pc.greater(values, pa.scalar(column.maximum).cast(values.type)))
        if bounds:
            outside = bounds[0] if len(bounds) == 1 else pc.or_(bounds[0], bounds[1])
            span = f"{_num(column.minimum)}..{_num(column.maximum)}"
            found.append((pc.fill_null(outside, False), column.name, "out_of_range",
                          "{key}: " + column.name + " {value} is outside " + span))

    for name, other in ds.not_below:
        below = pc.fill_null(pc.less(table[name], table[other]), False)
        found.append((below, name, "out_of_range", "{key}: " + name + " {value} is below " + other))

    if resolve is not None:
        for name, ref in ds.references.items():
            values = table[name]
            wanted = pc.drop_null(pc.unique(values))
            if pa.types.is_dictionary(wanted.type):
                wanted = wanted.cast(pa.string())
            known = resolve(ref, wanted)
            unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=known)))
            where = _REF_WORDS.get(ref, ref)
            found.append((unknown, name, "unknown_reference", "{key}: " + name + " {value} is not in " + where))

    sink = sink if sink is not None else ReasonSink(limit=10**9)
    bad = invalid
    for mask, name, kind, template in found:
        if not pc.any(mask).as_py():
            continue
        bad = pc.or_(bad, mask)

        def words(n: int, mask: pa.Array | pa.ChunkedArray = mask, name: str = name, kind: str = kind,
                  template: str = template) -> list[Reason]:
            rows = _first(mask, n)
            return [_reason(["row", row, name], template.format(key=_label(key), value=value), kind)
                    for row, key, value in zip(rows.to_pylist(), take(keys, rows).to_pylist(),
                                               take(table[name], rows).to_pylist(), strict=True)]

        sink.add(name, kind, int(pc.sum(mask).as_py() or 0), words)

    duplicated = duplicate_mask(keys, lookup)
    if duplicated is not None:
        bad = pc.or_(bad, duplicated)
        where = "+".join(ds.key)
        sink.add(where, "duplicate_key", int(pc.sum(duplicated).as_py() or 0),
                 lambda n: _duplicate_reasons(keys, duplicated, ds, n))
    reasons = sorted(sink.listed, key=lambda r: (r.loc[1], str(r.loc[2])))
    return RowCheck(bad=bad, reasons=reasons)


def _finite_sum(values: pa.Array | pa.ChunkedArray) -> bool:
    """No NaN in a float column (a NaN makes the sum NaN; so do infinities of
    both signs, which then get the full check)."""
    total = pc.sum(values).as_py()
    return total is None or math.isfinite(total)


def _within(values: pa.Array | pa.ChunkedArray, minimum: float | None, maximum: float | None) -> bool:
    """Every value inside the bounds, told from the column's minimum and
    maximum (NaNs are not out of range, nulls neither)."""
    if minimum is None and maximum is None:
        return True
    if not (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        return False
    low, high = (v.as_py() for v in pc.min_max(values).values())
    if low is None:
        return True
    return (minimum is None or low >= minimum) and (maximum is None or high <= maximum)


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass
class Lookup:
    """Each row's position in the previous snapshot's keys (-1: not there)."""

    positions: np.ndarray
    size: int  # rows in the previous snapshot

    @property
    def index(self) -> pa.Array:
        """The positions with nulls for the rows not there."""
        return pa.array(self.positions, mask=self.positions < 0)


def duplicate_mask(keys: pa.Array | pa.ChunkedArray, lookup: Lookup | None = None
                   ) -> pa.Array | pa.ChunkedArray | None:
    """Every row whose (non-null) key appears more than once, or None.

    With a lookup, keys found in the previous snapshot are counted by their
    position there (integers, one bincount) and only the few keys not found
    are hashed as strings."""
    if lookup is None:
        return _duplicates_by_value(keys)
    positions = lookup.positions
    found = positions >= 0
    many = np.bincount(positions[found], minlength=lookup.size) > 1
    duplicated = found & many[positions]  # a row not found reads the last entry: masked out by `found`
    # A key not in the previous snapshot cannot equal one that is: the new
    # keys are counted among themselves.
    unseen = np.flatnonzero(~found & pc.is_valid(keys).to_numpy(zero_copy_only=False))
    if len(unseen):
        among_new = _duplicates_by_value(take(keys, unseen))
        if among_new is not None:
            duplicated[unseen[among_new.to_numpy(zero_copy_only=False)]] = True
    return pa.array(duplicated) if duplicated.any() else None


def _duplicates_by_value(keys: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray | None:
    """One hash pass: each key's code among the distinct keys, the codes
    counted (nulls get a code of their own, never a duplicate)."""
    single = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    encoded = pc.dictionary_encode(single)
    size = len(encoded.dictionary)
    codes = pc.fill_null(encoded.indices, size).to_numpy(zero_copy_only=False)
    many = np.bincount(codes, minlength=size + 1) > 1
    many[size] = False
    duplicated = many[codes]
    return pa.array(duplicated) if duplicated.any() else None


def _duplicate_reasons(keys: pa.Array | pa.ChunkedArray, mask: pa.Array | pa.ChunkedArray,
                       ds: DatasetSchema, n: int) -> list[Reason]:
    """The first `n` duplicate rows worded (each naming the others of its key,
    among the rows looked at)."""
    rows = _first(mask, n)
    sampled = take(keys, rows)
    # How often each sampled key appears in the whole file (Arrow counts, no row lists).
    counts = pc.value_counts(keys.filter(pc.fill_null(pc.is_in(keys, value_set=pc.unique(sampled)), False)))
    if isinstance(counts, pa.ChunkedArray):
        counts = counts.combine_chunks()
    total = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True))
    by_key: dict[object, list[int]] = defaultdict(list)
    for row, key in zip(rows.to_pylist(), sampled.to_pylist(), strict=True):
        by_key[key].append(row)
    where = "+".join(ds.key)
    reasons = []
    for key, occurrences in by_key.items():
        many = total.get(key, len(occurrences))
        listed = ", ".join(map(str, occurrences[:20])) + (", ..." if many > 20 or len(occurrences) > 20 else "")
        for row in occurrences:
            reasons.append(_reason(["row", row, where], f"key {key} appears in {many} rows ({listed})",
                                   "duplicate_key"))
    return reasons
