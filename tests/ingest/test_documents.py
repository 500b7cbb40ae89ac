"""Rows turned into documents column by column are the documents a validated
model makes: byte for byte where pydantic's form is reachable, and parsed
back into equal models everywhere; what cannot be written so is left to the
row-by-row path."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from common.domain.models import CatalogItem, Project
from common.ingest.documents import serialized
from common.ingest.synthetic import generate_master


def _rows(table: pa.Table) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = table.to_pylist()
    return rows


def test_a_generated_dump_is_written_byte_for_byte_as_its_validated_models() -> None:
    table = generate_master(3_000, seed=5).previous
    table = table.set_column(table.schema.get_field_index("market"), "market", table["market"].dictionary_encode())

    made = serialized(table, Project, "project_id")

    assert made is not None
    assert made.ids == table["project_id"].to_pylist()
    assert made.texts == [Project.model_validate(r).model_dump_json() for r in _rows(table)]


def test_awkward_values_read_back_as_the_same_models() -> None:
    table = pa.table({
        "project_id": ["a", "b", "c", "d"],
        "project_status": ['quote " and \\ back', "line\nbreak \x01", "é \u2028 ✓", ""],
        "milestone": ["m", "m", "m", "m"],
        "latitude": [1.0, None, 1e15, -0.0],
        "national_priority": [1, 2, 3, 4],
        "updated_at": pa.array([0, 1_400_000, -1, None], pa.timestamp("us", tz="UTC")),
        "x_int": [1, None, 3, -(2**62)],
        "x_float": [math.nan, 2.0, math.inf, 1e-7],
        "x_naive": pa.array([0, 5_000, None, 1], pa.timestamp("ms")),
        "x_bool": [True, None, False, True],
        "x_words": pa.array(["a", None, 'b"', "a"]).dictionary_encode(),
    })

    made = serialized(table, Project, "project_id", removed=True)

    assert made is not None
    for row, text in zip(_rows(table), made.texts, strict=True):
        want = Project.model_validate({**row, "removed": True})
        assert Project.model_validate_json(text) == Project.model_validate_json(want.model_dump_json())
    assert list(made) == [Project.model_validate_json(t) for t in made.texts]


def test_instants_before_1970_and_in_the_first_years_keep_their_day() -> None:
    instants = [datetime(1, 1, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
                datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)]
    table = pa.table({"project_id": ["a", "b", "c"], "project_status": ["s"] * 3, "milestone": ["m"] * 3,
                      "updated_at": pa.array(instants, pa.timestamp("us", tz="UTC"))})
    made = serialized(table, Project, "project_id")
    assert made is not None
    assert made.texts == [Project.model_validate(r).model_dump_json() for r in _rows(table)]


@pytest.mark.parametrize("column", [
    pa.array([[1], [2]]),  # nested
    pa.array([b"x", b"y"]),  # binary
    pa.array([datetime(2026, 1, 1), datetime(2026, 1, 2)], pa.timestamp("us", tz="Europe/Paris")),
    pa.array([None, None]),  # an all-null column has no type to write
])
def test_columns_it_cannot_write_exactly_are_left_to_the_models(column: pa.Array) -> None:
    table = pa.table({"sku": ["A", "B"], "description": ["x", "y"], "odd": column})
    assert serialized(table, CatalogItem, "sku") is None


def test_a_field_given_a_type_it_would_convert_or_refuse_is_left_to_the_models() -> None:
    base = {"project_id": ["a"], "project_status": ["s"], "milestone": ["m"]}
    assert serialized(pa.table({**base, "national_priority": [1.5]}), Project, "project_id") is None
    assert serialized(pa.table({**base, "gated": ["yes"]}), Project, "project_id") is None
    assert serialized(pa.table({"project_id": ["a"], "milestone": ["m"]}), Project, "project_id") is None
    # An integer where a float is wanted is written as the float the model makes of it.
    made = serialized(pa.table({**base, "latitude": [3]}), Project, "project_id")
    assert made is not None and made.texts == [Project(project_id="a", project_status="s", milestone="m",
                                                       latitude=3).model_dump_json()]
