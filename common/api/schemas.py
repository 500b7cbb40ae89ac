"""Request and response models of the HTTP API (CONTRACT.md: Resources).

Responses are built from the domain models, so the JSON names are the
contract's; requests forbid unknown fields so a typo is a 422, not a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args, get_origin

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, TypeAdapter
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import to_jsonable_python
from typing_extensions import TypedDict

from common.domain.models import (
    AuditEntry,
    JobRun,
    LineSource,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    Project,
    QuarantineRecord,
)

Sku = Annotated[str, Field(min_length=1, max_length=64)]
Uom = Annotated[str, Field(min_length=1, max_length=16)]
Qty = Annotated[StrictInt, Field(gt=0, le=1_000_000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ requests

class LineIn(_In):
    sku: Sku
    qty: Qty
    uom: Uom = "EA"
    source: Literal["engineering", "manual"] | None = Field(
        None, description="kept from the order's line of the same SKU when omitted, else manual")


class OrderPatch(_In):
    """`application/json` or `application/merge-patch+json`: `lines` is the
    whole new line list; absent fields stay as they are."""

    lines: list[LineIn] | SkipJsonSchema[None] = Field(None, max_length=1000)
    warehouse_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    need_by: date | None = None


class AddItemsIn(_In):
    items: list[LineIn] = Field(min_length=1, max_length=1000)


class ApproveIn(_In):
    comment: Annotated[str, Field(max_length=2000)] | None = None


class RejectIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"\S")]


class CancelIn(_In):
    reason: Annotated[str, Field(max_length=2000)] | None = None


class AllocationRunIn(_In):
    # Required: a real run reserves and releases stock, so it is never what an
    # empty or accidental POST gets.
    dry_run: StrictBool = Field(description="false: allocate and release; true: report what would happen, "
                                            "change nothing")
    mode: Literal["greedy", "optimal"] = "greedy"


# ----------------------------------------------------------------- responses

class OrderOut(BaseModel):
    order_id: str
    order_number: str
    kind: OrderKind
    parent_order_id: str | None
    project_id: str
    site_code: str
    order_type: str
    status: OrderStatus
    revision: int
    design_version: int | None
    warehouse_id: str | None
    market: str | None
    national_priority: int | None
    gated: bool
    plan_type: str | None
    need_by: date | None
    lines: list[OrderLine]
    returned: dict[str, int]
    rejection_reason: str | None
    approved_at: datetime | None
    approved_by: str | None
    last_changed_by: str | None
    status_since: datetime | None
    sla_breached: list[str]
    created_at: datetime
    updated_at: datetime
    etag: str | None

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls.model_validate(order.model_dump(include=set(cls.model_fields)))


class Page(BaseModel):
    continuation: str | None = None


class OrderPage(Page):
    items: list[OrderOut]


# The busiest reads answer JSON made straight from what the store holds: an
# order as OrderOut's fields, in its order and with its types, serialized in
# one call; a page of orders from the stored documents, no model built at all.
# Building an OrderOut per order (a dump and a validation each) that FastAPI
# then validated again cost five times the serialization. The bytes are
# OrderOut's (tests/api/test_read_wire.py).
_ORDER_FIELDS = tuple(OrderOut.model_fields)
# Made from OrderOut, one list of fields (so called through
# Any: mypy reads TypedDicts written out field by field only).
_typed_dict: Any = TypedDict
_OrderWire: Any = _typed_dict("_OrderWire", {name: f.annotation for name, f in OrderOut.model_fields.items()})
_ORDER_JSON: TypeAdapter[Any] = TypeAdapter(_OrderWire)


def _wire(order: Order) -> dict[str, Any]:
    values = order.__dict__  # the fields as they are, nothing copied but the references
    return {name: values[name] for name in _ORDER_FIELDS}


def order_json(order: Order) -> bytes:
    """`OrderOut.of(order).model_dump_json()`, without the copy."""
    return _ORDER_JSON.dump_json(_wire(order))


_FLAT: dict[Callable[[dict[str, Any]], dict[str, Any]], dict[str, Any]] = {}  # a flat model's merge: its template


def _filler(model: type[BaseModel], names: Sequence[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A stored document of `model` (JSON, fields at their defaults left
    out) as the JSON object of the fields `names`, in that order: what is
    stored as it is, what is left out as its default's JSON, and the same
    for the items of a list of models (an order's lines). Merged over a
    template of the fields in order (a dict merge keeps the first dict's
    key order), the model's other fields dropped: a tenth of building the
    object key by key."""
    fields = model.model_fields
    template = {name: None if fields[name].is_required()
                else to_jsonable_python(fields[name].get_default(call_default_factory=True)) for name in names}
    dropped = tuple(name for name in fields if name not in template)
    nested: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
    for name in names:
        annotation = fields[name].annotation
        if get_origin(annotation) is list and isinstance(item := get_args(annotation)[0], type) \
                and issubclass(item, BaseModel):
            nested[name] = _filler(item, tuple(item.model_fields))

    if not dropped and not nested:  # a flat model with every field shown (an order's line): one merge
        merge: Callable[[dict[str, Any]], dict[str, Any]] = lambda doc: {**template, **doc}
        _FLAT[merge] = template
        return merge
    # One list of flat models (an order's lines): merged here, no call per item.
    listed = next(iter(nested)) if len(nested) == 1 else ""
    flat = _FLAT.get(nested[listed]) if listed else None

    def fill(doc: dict[str, Any]) -> dict[str, Any]:
        out = {**template, **doc}
        for name in dropped:
            out.pop(name, None)
        if flat is not None:
            if items := out[listed]:
                out[listed] = [{**flat, **item} for item in items]
            return out
        for name, inner in nested.items():
            if out[name]:
                out[name] = [inner(item) for item in out[name]]
        return out

    return fill


_order_doc = _filler(Order, _ORDER_FIELDS)


def order_docs_page_json(docs: list[dict[str, Any]], continuation: str | None) -> bytes:
    """`OrderPage(items=[OrderOut.of(o) ...], continuation=...).model_dump_json()`
    from the orders' stored documents (Store.query_order_docs), no model built:
    the same bytes (tests/api/test_read_wire.py) at a fraction of the cost."""
    return orjson.dumps({"continuation": continuation, "items": [_order_doc(doc) for doc in docs]})


class AuditPage(Page):
    items: list[AuditEntry]


class JobPage(Page):
    items: list[JobRun]


class QuarantinePage(Page):
    items: list[QuarantineRecord]


class ProjectOut(Project):
    qualifies: bool
    why_not: str | None = None


class ProjectPage(Page):
    items: list[ProjectOut]


class InventoryRow(BaseModel):
    warehouse_id: str
    sku: str
    on_hand: int
    reserved: int
    available: int
    as_of: datetime | None = None


class InventoryPage(Page):
    items: list[InventoryRow]


IntakeOutcome = Literal["created", "revised", "delta_created", "supplemental_created", "applied",
                        "skipped_duplicate", "skipped_stale", "skipped_unchanged", "parked", "quarantined"]


class IntakeResult(BaseModel):
    event_id: str | None
    outcome: IntakeOutcome
    order_id: str | None = None
    reasons: list[str] = Field(default_factory=list)


class IntakeResponse(BaseModel):
    results: list[IntakeResult]
    job_id: str | None = None


class ReprocessOut(BaseModel):
    outcome: IntakeOutcome
    order_id: str | None
    reasons: list[str]
    order: OrderOut | None


class QuarantineReprocessOut(BaseModel):
    """An event record answers with one outcome per event in `results`; a
    record of dataset rows with the `job` run that tried them again."""

    record: QuarantineRecord
    results: list[IntakeResult] = Field(default_factory=list)
    job: JobRun | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    store: bool
    time: datetime


class AllocationShortfall(BaseModel):
    model_config = ConfigDict(extra="allow")

    sku: str
    needed: int
    available: int


class AllocationOrderOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    order_id: str
    rank: int | None = None
    outcome: str
    reason: str | None = None
    shortfall: list[AllocationShortfall] = Field(default_factory=list)
    blocked_by: list[str] = Field(default_factory=list)


class AllocationRunOut(BaseModel):
    """CONTRACT.md: Allocation run. Extra fields of the report pass through."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    mode: str | None = None
    dry_run: bool | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    orders: list[AllocationOrderOut] = Field(default_factory=list)


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


LINE_SOURCES = [s.value for s in LineSource]


# ------------------------------------------------------------- dead letters

class DeadLetterOut(BaseModel):
    name: str
    source: str
    channel: str
    dead_lettered_at: datetime
    count: int = Field(description="events in the batch")
    error: dict[str, Any]
    replay: dict[str, Any] | None = None


class DeadLetterPage(Page):
    items: list[DeadLetterOut]


class DeadLetterReplayIn(_In):
    names: list[Annotated[str, Field(min_length=1, max_length=512)]] | None = Field(
        None, max_length=1000, description="the dead letters to replay; all waiting ones when absent")
    force: StrictBool = Field(False, description="replay even one older than the idempotency markers live")


class DeadLetterReplayResult(BaseModel):
    name: str
    status: Literal["replayed", "failed", "refused"]
    job_id: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    error: str | None = None


class DeadLetterReplayOut(BaseModel):
    results: list[DeadLetterReplayResult]
