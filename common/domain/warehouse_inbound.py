"""Inbound warehouse event schemas (CONTRACT.md: warehouse events) and their
schema-level validation, which reports every reason at once.

Whether an event fits its order (known order, a status that can take it,
returned SKUs and quantities) needs data and is decided in `returns.py`.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from common.domain.inbound import ID_PATTERN, AwareDatetime, reasons_from
from common.domain.models import Reason

# Order ids are `<project>~<site>~<order type>~<seq>` (common.domain.ids).
ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,255}$"
OrderRef = Annotated[str, Field(pattern=ORDER_ID_PATTERN)]
EventId = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Sku = Annotated[str, Field(min_length=1, max_length=64)]


class WarehouseEventType(StrEnum):
    RELEASE_COMPLETED = "ReleaseCompleted"
    RELEASE_REJECTED = "ReleaseRejected"
    RETURN_RECEIVED = "ReturnReceived"
    STOCK_ADJUSTED = "StockAdjusted"


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: EventId
    occurred_at: AwareDatetime


class Envelope(_Event):
    """The fields every warehouse event has; used to report every reason of
    an event whose type is missing or unknown."""

    event_type: WarehouseEventType


class ReleaseCompleted(_Event):
    event_type: Literal[WarehouseEventType.RELEASE_COMPLETED]
    order_id: OrderRef


class ReleaseRejected(_Event):
    event_type: Literal[WarehouseEventType.RELEASE_REJECTED]
    order_id: OrderRef
    reason: Text


class ReturnItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sku: Sku
    qty: Annotated[int, Field(strict=True, gt=0, le=1_000_000)]


class ReturnReceived(_Event):
    event_type: Literal[WarehouseEventType.RETURN_RECEIVED]
    order_id: OrderRef
    reason: Text
    items: Annotated[list[ReturnItem], Field(min_length=1, max_length=1000)]


def _not_zero(value: int) -> int:
    if value == 0:
        raise ValueError("a stock adjustment of 0 changes nothing")
    return value


class StockAdjusted(_Event):
    event_type: Literal[WarehouseEventType.STOCK_ADJUSTED]
    warehouse_id: Annotated[str, Field(pattern=ID_PATTERN)]
    sku: Sku
    delta: Annotated[int, Field(strict=True, ge=-1_000_000, le=1_000_000), AfterValidator(_not_zero)]
    reason: Text | None = None


OrderEvent = ReleaseCompleted | ReleaseRejected | ReturnReceived
WarehouseEvent = OrderEvent | StockAdjusted

MODELS: dict[str, type[ReleaseCompleted] | type[ReleaseRejected] | type[ReturnReceived] | type[StockAdjusted]] = {
    WarehouseEventType.RELEASE_COMPLETED.value: ReleaseCompleted,
    WarehouseEventType.RELEASE_REJECTED.value: ReleaseRejected,
    WarehouseEventType.RETURN_RECEIVED.value: ReturnReceived,
    WarehouseEventType.STOCK_ADJUSTED.value: StockAdjusted,
}


def _duplicate_skus(raw: dict[str, Any]) -> list[Reason]:
    items = raw.get("items")
    if not isinstance(items, list):
        return []
    reasons: list[Reason] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        sku = item.get("sku") if isinstance(item, dict) else None
        if isinstance(sku, str) and sku in seen:
            reasons.append(Reason(loc=["items", index, "sku"],
                                  msg=f"SKU {sku} is listed twice (also at items[{seen[sku]}])", type="duplicate"))
        elif isinstance(sku, str):
            seen[sku] = index
    return reasons


def check_warehouse_event(raw: Any) -> tuple[WarehouseEvent | None, list[Reason]]:
    """Parse one raw event. Returns the event when it is valid, else every
    reason it is not."""
    if not isinstance(raw, dict):
        return None, [Reason(loc=[], msg=f"an event must be a JSON object, not {type(raw).__name__}",
                             type="model_type")]
    kind = raw.get("event_type")
    model = MODELS.get(kind) if isinstance(kind, str) else None
    reasons: list[Reason] = []
    event: WarehouseEvent | None = None
    try:
        if model is None:
            Envelope.model_validate(raw)  # raises: the type is missing or unknown
        else:
            event = model.model_validate(raw)
    except ValidationError as error:
        reasons.extend(reasons_from(error))
    if model is ReturnReceived:
        reasons.extend(_duplicate_skus(raw))
    return (event if not reasons else None), reasons


def adjustment_id(kind: str, event_id: str, sku: str | None = None) -> str:
    """The idempotency key of one on-hand adjustment caused by a warehouse
    event. Hashed, because event ids and SKUs may hold any character while
    the key may end up as a Cosmos DB document id (no '/', '?', '#')."""
    base = f"{kind}|{event_id}|{sku or ''}".encode()
    return f"wh-{kind}-{hashlib.blake2b(base, digest_size=12).hexdigest()}"
