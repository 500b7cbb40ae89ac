"""The duplicate-key mask from one hash pass (codes counted) marks exactly
the rows the value-count-and-membership form marked: every occurrence of a
non-null key seen more than once, whatever the chunking and the nulls."""

from __future__ import annotations

import itertools
import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from common.ingest.validate import _duplicates_by_value


def _reference(keys: pa.ChunkedArray) -> list[bool]:
    counts = pc.value_counts(keys)
    if isinstance(counts, pa.ChunkedArray):
        counts = counts.combine_chunks()
    many = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    marked: list[bool] = pc.fill_null(pc.is_in(keys, value_set=pc.drop_null(many)), False).to_pylist()
    return marked


@pytest.mark.parametrize("seed", range(40))
def test_the_mask_is_the_reference_one(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(0, 400)
    pool = [f"K-{i}" for i in range(rng.randint(1, 2 * n + 1))]
    values = [None if rng.random() < 0.05 else rng.choice(pool) for _ in range(n)]
    cuts = sorted({0, n, *(rng.randint(0, n) for _ in range(rng.randint(0, 4)))})
    keys = pa.chunked_array([pa.array(values[a:b], pa.string()) for a, b in itertools.pairwise(cuts)],
                            pa.string())
    got = _duplicates_by_value(keys)
    expected = _reference(keys)
    assert (got.to_pylist() if got is not None else [False] * n) == expected
    assert (got is None) == (not any(expected))
