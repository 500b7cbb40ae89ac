"""The columnar delta's comparison rules."""

from __future__ import annotations

import math
import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from common.ingest.delta import diff, lookup, positions
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


def _edited(keys: list[str], rng: random.Random) -> list[str | None]:
    """A dump as the next export: rows removed, inserted, moved, a key twice, a null key."""
    out: list[str | None] = list(keys)
    for _ in range(rng.randint(0, len(keys) // 20 + 1)):
        kind, at = rng.random(), rng.randrange(len(out) + 1)
        if kind < 0.3 and out:
            out.pop(min(at, len(out) - 1))
        elif kind < 0.6:
            out.insert(at, f"new-{rng.randrange(10**9)}")
        elif kind < 0.8 and out:
            out.insert(at, out.pop(rng.randrange(len(out))))  # moved
        elif kind < 0.95 and out:
            out.insert(at, rng.choice(out))  # twice
        else:
            out.insert(at, None)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_the_lookup_by_row_order_answers_as_a_hash_lookup_whatever_the_edits(seed: int) -> None:
    rng = random.Random(seed)
    previous = [f"PRJ-{n:07d}" for n in rng.sample(range(10**6), rng.choice([200, 1_000, 5_000]))]
    current = _edited(previous, rng)
    if seed % 5 == 0:
        rng.shuffle(current)  # not the previous order: the hash join answers
    if seed % 7 == 0:
        previous.insert(rng.randrange(len(previous)), rng.choice(previous))  # not ours: a key twice
    want = pc.fill_null(pc.index_in(pa.array(current, pa.string()), value_set=pa.array(previous)), -1)

    found = positions(pa.chunked_array([current[:100], current[100:]], pa.string()), pa.array(previous))

    assert found.tolist() == want.to_pylist()
