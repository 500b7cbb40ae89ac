"""Rows of a dataset as the JSON documents the store keeps, built column by
column in Arrow: a first load of a million projects made a dict, a model and
a JSON string per row in Python (about 15 µs a row, most of the load's time).

Each column becomes the JSON text of its values (strings escaped, numbers and
instants formatted as pydantic writes them), and one join per row puts the
pieces in the model's order: its fields in declaration order, then the extra
columns in file order, as `model_dump_json` writes a validated model. What
this does not know how to write exactly (a nested or binary column, a type a
field would convert or refuse, a time zone other than UTC) gives None, and
the caller validates row by row as before.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from common.domain.serialized import M, Serialized
from common.ingest.validate import RESERVED

_NULL = "null"


def serialized(table: pa.Table, model: type[M], key: str, **fixed: Any) -> Serialized[M] | None:
    """The rows of `table` as `model` documents keyed by column `key`, with
    `fixed` fields set on every row (e.g. removed=True); None when a column
    cannot be written here (see the module's docstring)."""
    columns = [n for n in table.column_names if n not in RESERVED]
    pieces: list[str | pa.Array | pa.ChunkedArray] = []
    for name, field in model.model_fields.items():
        if name in fixed:
            text: str | pa.Array | pa.ChunkedArray | None = _constant(fixed[name])
        elif name in columns:
            text = _column(table[name], _python_types(field.annotation))
        elif field.is_required():
            return None  # validation would refuse every row: let it say so
        else:
            text = _constant(field.get_default(call_default_factory=True))
        if text is None:
            return None
        pieces += [("{" if not pieces else ",") + json.dumps(name) + ":", text]
    extras = [n for n in columns if n not in model.model_fields]
    if extras and model.model_config.get("extra") != "allow":
        return None
    for name in extras:
        text = _column(table[name], None)
        if text is None:
            return None
        pieces += [("{" if not pieces else ",") + json.dumps(name) + ":", text]
    pieces.append("}" if pieces else "{}")
    if table.num_rows == 0:
        return Serialized(model, [], [])
    documents = pc.binary_join_element_wise(*pieces, "")
    return Serialized(model, table[key].cast(pa.string()).to_pylist(), documents.to_pylist())


def _constant(value: Any) -> str | None:
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value, ensure_ascii=False)
    return None


def _python_types(annotation: Any) -> set[type] | None:
    """The plain types a field takes (`str | None` -> {str, NoneType}), or
    None for anything else (then no column is written for it here)."""
    if annotation in (str, int, float, bool, datetime, date):
        return {annotation}
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = set(typing.get_args(annotation))
        if args <= {str, int, float, bool, datetime, date, type(None)}:
            return args
    return None


def _column(values: pa.ChunkedArray, wanted: set[type] | None) -> pa.ChunkedArray | None:
    """The JSON text of each value, or None. `wanted`: the field's types (None:
    an extra column, written as its own type)."""
    t = values.type
    if values.null_count and wanted is not None and type(None) not in wanted:
        return None
    if pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
        # Each distinct value written once, then the texts taken by index.
        text = pa.chunked_array([pa.DictionaryArray.from_arrays(c.indices, _strings(c.dictionary)).cast(pa.string())
                                 for c in values.chunks], pa.string()) if wanted is None or str in wanted else None
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = _strings(values) if wanted is None or str in wanted else None
    elif pa.types.is_boolean(t):
        text = pc.if_else(values, "true", "false") if wanted is None or bool in wanted else None
    elif pa.types.is_integer(t):
        if wanted is None or int in wanted:
            text = values.cast(pa.string())
        elif float in wanted:  # a float field keeps an integer as a float: 3 -> 3.0
            text = _floats(values.cast(pa.float64()))
        else:
            text = None
    elif pa.types.is_floating(t):
        text = _floats(values) if wanted is None or (float in wanted and int not in wanted) else None
    elif pa.types.is_timestamp(t):
        text = _instants(values) if wanted is None or datetime in wanted else None
    else:
        return None
    return None if text is None else pc.fill_null(text, _NULL)


def _strings(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    # One scan tells the usual case (nothing to escape) from the rest.
    if pc.any(pc.match_substring_regex(values, '[\\x00-\\x1f"\\\\]')).as_py():
        if pc.any(pc.match_substring_regex(values, "[\\x00-\\x1f]")).as_py():
            # Control characters: rare, escaped by the json module (as pydantic does: \n, \u0001).
            return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values.to_pylist()],
                            pa.string())
        values = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', values, '"', "")


def _floats(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """As Python's repr and pydantic write them where it matters to a reader:
    a whole number keeps its '.0' (3.0 stays a float when read back), NaN and
    infinities are null."""
    text = values.cast(pa.string())
    if pc.any(pc.equal(values, pc.floor(values))).as_py():
        whole = pc.invert(pc.match_substring_regex(text, "[.en]"))  # no point, exponent, nan or inf
        text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    if not pc.all(pc.is_finite(values)).as_py():
        text = pc.if_else(pc.is_finite(values), text, pa.scalar(None, pa.string()))
    return text


_DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1)
_PER_US = {"s": 1_000_000, "ms": 1_000, "us": 1}


@functools.cache
def _clock() -> pa.Array:
    """"HH:MM:SS" for each second of a day: an instant's time is a take."""
    return pa.array([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)], pa.string())


def _instants(values: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """"2026-01-01T00:00:00Z", with ".123456" when there are microseconds:
    pydantic's form (naive instants without the Z). Formatting an instant
    in Arrow takes microseconds each; here the few distinct days are
    formatted once, the time of day is taken from a table of the day's
    seconds, and only the microseconds are numbers turned into text."""
    t = values.type
    if t.tz not in (None, "UTC", "+00:00", "Z", "Etc/UTC") or t.unit == "ns":
        return None
    try:
        micros = pc.multiply_checked(values.cast(pa.int64()), _PER_US[t.unit])
    except pa.ArrowInvalid:
        return None  # beyond what a datetime holds
    days = pc.divide(micros, _DAY_US)
    within = pc.subtract(micros, pc.multiply(days, _DAY_US))
    if (pc.min(micros).as_py() or 0) < 0:
        # Integer division truncates: an instant before 1970 inside a day is one day earlier.
        days = pc.if_else(pc.less(within, 0), pc.subtract(days, 1), days)
        within = pc.if_else(pc.less(within, 0), pc.add(within, _DAY_US), within)  # 0 .. one day, in microseconds
    distinct = pc.drop_null(pc.unique(days))
    try:
        dates = [f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
                 for day in (_EPOCH + timedelta(days=d) for d in distinct.to_pylist())]
    except OverflowError:
        return None  # outside the years 1 to 9999: the row checks keep such rows out of required columns
    date = pa.array(dates, pa.string()).take(pc.index_in(days, value_set=distinct))
    seconds = pc.divide(within, 1_000_000)
    fraction = pc.subtract(within, pc.multiply(seconds, 1_000_000))
    clock = _clock().take(seconds)
    zone = 'Z"' if t.tz is not None else '"'
    if not pc.any(pc.not_equal(fraction, 0)).as_py():  # whole seconds, the usual case
        return pc.binary_join_element_wise('"', date, "T", clock, zone, "")
    digits = pc.binary_join_element_wise(".", pc.utf8_lpad(fraction.cast(pa.string()), 6, "0"), "")
    fraction_text = pc.if_else(pc.equal(fraction, 0), "", digits)
    return pc.binary_join_element_wise('"', date, "T", clock, fraction_text, zone, "")
