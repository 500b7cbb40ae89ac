"""Settings read from the environment's text: comma-separated lists and JSON
objects, an empty value being an empty one."""

from __future__ import annotations

from common.config import Settings


def test_lists_are_comma_separated_and_objects_are_json_an_empty_value_being_empty() -> None:
    settings = Settings(OMS_ALLOCATION_RANK_KEYS=" gated, need_by ,", OMS_WAREHOUSES="WH-EAST,WH-WEST",  # type: ignore[call-arg]
                        OMS_ALLOCATION_PLAN_TYPE_RANKS='{"Coverage": 1}', OMS_ALLOCATION_ORDER_TYPE_RANKS=" ",
                        OMS_INCIDENT_SLA_WAVE='{"*": 5}', OMS_SLA_HOURS="", OMS_INCIDENT_SUBSCRIBERS="")

    assert settings.allocation_rank_keys == ["gated", "need_by"]
    assert settings.warehouses == ["WH-EAST", "WH-WEST"]
    assert settings.allocation_plan_type_ranks == {"Coverage": 1}
    assert settings.allocation_order_type_ranks == {}
    assert settings.incident_sla_wave == {"*": 5}
    assert settings.sla_hours == {}
    assert settings.incident_subscribers == []
