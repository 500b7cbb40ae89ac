"""The domain's enums read `.value` from the member (common/domain/models.py):
the same value as Enum's own property, and the enums behave as before
(lookup, comparison, pickling, JSON)."""

from __future__ import annotations

import json
import pickle
from enum import Enum

import pytest

from common.domain.models import ActorType, CheckStatus, LineSource, OrderKind, OrderLine, OrderStatus

ENUMS = (OrderStatus, OrderKind, LineSource, CheckStatus, ActorType)


@pytest.mark.parametrize("enum", ENUMS)
def test_value_is_the_members_value(enum: type[Enum]) -> None:
    for member in enum:
        assert member.value == Enum.__dict__["value"].fget(member) == member._value_ == str(member)
        assert type(member.value) is str
        assert enum(member.value) is member and enum[member.name] is member
        assert pickle.loads(pickle.dumps(member)) is member
        assert json.dumps({"v": member}) == json.dumps({"v": member.value})


def test_models_write_and_read_the_values() -> None:
    line = OrderLine(line_no=1, sku="A", qty=2, source="manual")
    assert line.source is LineSource.MANUAL
    assert line.model_dump(mode="json")["source"] == "manual" == line.as_json()["source"]
    assert OrderLine.model_validate_json(line.model_dump_json()) == line
