"""The columnar delta's comparison rules."""

from __future__ import annotations

import math

import pyarrow as pa

from common.ingest.delta import diff, lookup
from common.ingest.validate import KEY


def _table(keys: list[str | None], **columns: list[object]) -> pa.Table:
    return pa.table({KEY: pa.array(keys, pa.string()), **{n: pa.array(v) for n, v in columns.items()}})


def test_two_nulls_and_two_nans_are_equal_and_a_null_against_a_value_is_a_change() -> None:
    previous = _table(["a", "b", "c", "d"], note=[None, "x", None, "y"], score=[math.nan, 1.0, 2.0, math.nan])
    current = _table(["a", "b", "c", "d"], note=[None, "x", "z", None], score=[math.nan, 1.0, 2.0, 3.0])

    delta, _ = diff(current, None, previous, ["note", "score"])

    assert delta.unchanged == 2
    assert delta.changed_columns() == {"c": ["note"], "d": ["note", "score"]}


def test_a_column_only_in_one_snapshot_changes_the_rows_with_a_value_there() -> None:
    previous = _table(["a", "b"], old=[1, None])
    current = _table(["a", "b"], new=["x", None])

    delta, _ = diff(current, None, previous, ["new", "old"])

    assert delta.changed_columns() == {"a": ["new", "old"]}
    assert delta.unchanged == 1


def test_dictionary_columns_compare_by_value_whatever_their_dictionaries() -> None:
    previous = _table(["a", "b", "c"], status=pa.array(["Active", "OnHold", "Active"]).dictionary_encode())
    current = _table(["c", "b", "a"], status=pa.array(["Planned", "OnHold", "Active"]).dictionary_encode())

    delta, _ = diff(current, None, previous, ["status"])

    assert delta.changed_columns() == {"c": ["status"]}


def test_lookup_finds_each_key_in_the_previous_keys_and_leaves_the_rest_null() -> None:
    found = lookup(pa.chunked_array([["c", None, "x"], ["a", "c"]]), pa.chunked_array([["a", "b", "c"]]))
    assert found.to_pylist() == [2, None, None, 0, 2]


def test_nested_extra_columns_are_compared_too() -> None:
    previous = _table(["a", "b"], tags=[["x"], ["y"]])
    current = _table(["a", "b"], tags=[["x"], ["y", "z"]])
    delta, _ = diff(current, None, previous, ["tags"])
    assert delta.changed_columns() == {"b": ["tags"]}
