"""Inbound event schemas (CONTRACT.md: engineering events) and their
schema-level validation, which reports every reason at once.

Referential checks (known project, SKU in the catalogue) need data and live
in `validation.py`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError

from common.domain.bounds import MAX_DESIGN_VERSION, MAX_QTY
from common.domain.models import FeasibilityCheck, Reason

# Ids end up in document ids, URLs and partition keys: Cosmos DB refuses
# '/', '\\', '?', '#' in ids and '~' separates the parts of a stream id.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
Ident = Annotated[str, Field(pattern=ID_PATTERN)]


def _aware(value: datetime) -> datetime:
    """Naive timestamps mean UTC (CONTRACT.md)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class EngineeringEventType(StrEnum):
    DESIGN_APPROVED = "DesignApproved"
    DESIGN_REVISED = "DesignRevised"
    SCHEDULE_UPDATED = "ScheduleUpdated"
    FEASIBILITY_UPDATED = "FeasibilityUpdated"


DESIGN_EVENTS = frozenset({EngineeringEventType.DESIGN_APPROVED, EngineeringEventType.DESIGN_REVISED})
_DESIGN_TYPE_NAMES = frozenset(t.value for t in DESIGN_EVENTS)


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sku: Annotated[str, Field(min_length=1, max_length=64)]
    qty: Annotated[int, Field(strict=True, gt=0, le=MAX_QTY)]
    uom: Annotated[str, Field(min_length=1, max_length=16)] = "EA"


class EngineeringEvent(BaseModel):
    """One engineering event. Fields that only some event types carry are
    optional here; `check_engineering_event` enforces them per type."""

    model_config = ConfigDict(extra="ignore")

    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    event_type: EngineeringEventType
    occurred_at: AwareDatetime
    project_id: Ident
    site_code: Ident
    order_type: Ident
    design_version: Annotated[int, Field(strict=True, ge=1, le=MAX_DESIGN_VERSION)] | None = None
    items: list[ItemIn] | None = None
    need_by: date | None = None
    feasible: StrictBool | None = None
    checks: list[FeasibilityCheck] | None = None

    @property
    def is_design(self) -> bool:
        return self.event_type in DESIGN_EVENTS


def _per_type_reasons(raw: dict[str, Any]) -> list[Reason]:
    """What each event type needs beyond the common fields."""
    kind = raw.get("event_type")
    reasons: list[Reason] = []

    def need(field: str, msg: str) -> None:
        if raw.get(field) is None:
            reasons.append(Reason(loc=[field], msg=msg, type="missing"))

    if kind in _DESIGN_TYPE_NAMES:
        need("design_version", f"design_version is required for {kind}")
        items = raw.get("items")
        if items is None:
            need("items", f"items is required for {kind}")
        elif isinstance(items, list) and not items:
            reasons.append(Reason(loc=["items"], msg="a design needs at least one item", type="too_short"))
        elif isinstance(items, list):
            seen: dict[str, int] = {}
            for index, item in enumerate(items):
                sku = item.get("sku") if isinstance(item, dict) else None
                if isinstance(sku, str) and sku in seen:
                    reasons.append(
                        Reason(
                            loc=["items", index, "sku"],
                            msg=f"SKU {sku} is listed twice (also at items[{seen[sku]}])",
                            type="duplicate",
                        )
                    )
                elif isinstance(sku, str):
                    seen[sku] = index
    elif kind == EngineeringEventType.SCHEDULE_UPDATED.value:
        need("need_by", "need_by is required for ScheduleUpdated")
    elif kind == EngineeringEventType.FEASIBILITY_UPDATED.value:
        need("feasible", "feasible is required for FeasibilityUpdated")
    return reasons


def reasons_from(error: ValidationError) -> list[Reason]:
    return [
        Reason(loc=list(e["loc"]), msg=e["msg"], type=e["type"])
        for e in error.errors(include_url=False, include_context=False, include_input=False)
    ]


def check_engineering_event(raw: Any) -> tuple[EngineeringEvent | None, list[Reason]]:
    """Parse one raw event. Returns the event when it is valid, else every
    reason it is not (schema and per-type requirements together)."""
    if not isinstance(raw, dict):
        return None, [Reason(loc=[], msg=f"an event must be a JSON object, not {type(raw).__name__}",
                             type="model_type")]
    reasons: list[Reason] = []
    event: EngineeringEvent | None = None
    try:
        event = EngineeringEvent.model_validate(raw)
    except ValidationError as error:
        reasons.extend(reasons_from(error))
    known = {tuple(r.loc) for r in reasons}
    reasons.extend(r for r in _per_type_reasons(raw) if tuple(r.loc) not in known)
    return (event if not reasons else None), reasons
