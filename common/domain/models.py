"""The domain's data: orders and their lines, streams, projects, catalogue items,
audit entries, outbox events, job runs and quarantine records.

Pure pydantic v2 models; no I/O. Field names are the public JSON names of
CONTRACT.md (Resources).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class OrderStatus(StrEnum):
    DRAFT = "Draft"
    APPROVED = "Approved"
    ALLOCATED = "Allocated"
    RELEASED = "Released"
    CLOSED = "Closed"
    PARTIALLY_RETURNED = "PartiallyReturned"
    FULLY_RETURNED = "FullyReturned"
    CANCELLED = "Cancelled"


RETURNED_STATUSES = frozenset({OrderStatus.PARTIALLY_RETURNED, OrderStatus.FULLY_RETURNED})
DELIVERED_STATUSES = frozenset({OrderStatus.CLOSED}) | RETURNED_STATUSES


class OrderKind(StrEnum):
    STANDARD = "standard"
    SUPPLEMENTAL = "supplemental"
    DELTA = "delta"


class LineSource(StrEnum):
    ENGINEERING = "engineering"
    MANUAL = "manual"
    RETURN = "return"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class OrderLine(_Model):
    line_no: int
    sku: str
    qty: int
    uom: str = "EA"
    source: LineSource = LineSource.ENGINEERING

    def as_json(self) -> dict[str, Any]:
        """`model_dump(mode="json")`, without the serializer's cost: every
        audit entry and outbox event lists lines (tests keep the two equal)."""
        return {"line_no": self.line_no, "sku": self.sku, "qty": self.qty, "uom": self.uom,
                "source": self.source._value_}  # `.value` is a Python property: a third of this call


class StreamKey(_Model):
    """The identity of an order stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: str
    site_code: str
    order_type: str

    @property
    def id(self) -> str:
        return f"{self.project_id}~{self.site_code}~{self.order_type}"


class HeldEvent(_Model):
    """A warehouse event that arrived before its order could take it (e.g.
    `ReleaseCompleted` while the order is still Allocated). It is kept on the
    order, written atomically with it, and applied once the order gets there."""

    event_id: str
    event_type: str
    payload: dict[str, Any]
    held_at: datetime
    reason: str
    # Who sent it: applied later (by the release step, a sweep), it is still
    # the sender's action in the audit trail. None on events held before.
    actor: Actor | None = None


class EngineeringHold(_Model):
    """Engineering found the site not feasible after the material was
    released: the order is flagged (dashboard, notification) until a later
    feasible update clears it."""

    at: datetime
    event_id: str
    failed_checks: list[str] = Field(default_factory=list)


class Order(_Model):
    order_id: str
    order_number: str
    kind: OrderKind = OrderKind.STANDARD
    parent_order_id: str | None = None
    project_id: str
    site_code: str
    order_type: str
    seq: int
    status: OrderStatus = OrderStatus.DRAFT
    revision: int = 1
    version: int = 1
    design_version: int | None = None
    warehouse_id: str | None = None
    market: str | None = None
    national_priority: int | None = None
    gated: bool = False
    plan_type: str | None = None
    need_by: date | None = None
    lines: list[OrderLine] = Field(default_factory=list)
    returned: dict[str, int] = Field(default_factory=dict)
    # What the order delivered before a review sent it back from a returned
    # state to Draft: its lines are then what it orders again.
    delivered_before: dict[str, int] = Field(default_factory=dict)
    held_events: list[HeldEvent] = Field(default_factory=list)
    rejection_reason: str | None = None
    approved_at: datetime | None = None
    approved_by: str | None = None
    last_changed_by: str | None = None
    short_runs: int = 0
    # On hand per SKU of its lines at the last short run that counted: a run
    # that sees the same stock again does not count (back-to-back runs must
    # not spend the short-run budget).
    short_seen: dict[str, int] = Field(default_factory=dict)
    sla_breached: list[str] = Field(default_factory=list)
    engineering_hold: EngineeringHold | None = None
    status_since: datetime | None = None
    created_at: datetime
    updated_at: datetime
    etag: str | None = None

    @property
    def stream(self) -> StreamKey:
        return StreamKey(project_id=self.project_id, site_code=self.site_code, order_type=self.order_type)

    @property
    def stream_id(self) -> str:
        """`self.stream.id` without building the key (hot in the unit of work)."""
        return f"{self.project_id}~{self.site_code}~{self.order_type}"

    def quantities(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.lines:
            sku = line.sku
            if sku in out:
                out[sku] += line.qty
            else:
                out[sku] = line.qty
        return out


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    PENDING = "pending"


class FeasibilityCheck(_Model):
    name: str
    status: CheckStatus
    detail: str | None = None


class DesignItem(_Model):
    sku: str
    qty: int
    uom: str = "EA"


class ParkedDesign(_Model):
    event_id: str
    design_version: int
    items: list[DesignItem]
    reason: str
    parked_at: datetime


class Stream(_Model):
    """What the OMS knows of one order stream, beside its orders: the last
    design applied, a design parked while the project did not qualify, and the
    engineering facts (need-by date, feasibility)."""

    stream_id: str
    project_id: str
    site_code: str
    order_type: str
    design_version: int | None = None
    design_items: list[DesignItem] = Field(default_factory=list)
    design_event_id: str | None = None
    parked: ParkedDesign | None = None
    need_by: date | None = None
    schedule_at: datetime | None = None
    feasible: bool = True
    checks: list[FeasibilityCheck] = Field(default_factory=list)
    feasibility_at: datetime | None = None
    order_ids: list[str] = Field(default_factory=list)
    next_seq: int = 1
    updated_at: datetime | None = None
    etag: str | None = None

    @property
    def key(self) -> StreamKey:
        return StreamKey(project_id=self.project_id, site_code=self.site_code, order_type=self.order_type)

    @property
    def latest_order_id(self) -> str | None:
        return self.order_ids[-1] if self.order_ids else None

    @property
    def newest_design_version(self) -> int | None:
        """The newest design seen for the stream, applied or parked."""
        versions = [v for v in (self.design_version, self.parked and self.parked.design_version) if v]
        return max(versions) if versions else None


class Project(_Model):
    model_config = ConfigDict(extra="allow")

    project_id: str
    site_code: str | None = None
    market: str | None = None
    region: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    project_status: str
    milestone: str
    plan_type: str | None = None
    national_priority: int = 5
    gated: bool = False
    warehouse_id: str | None = None
    updated_at: datetime | None = None
    removed: bool = False


class CatalogItem(_Model):
    model_config = ConfigDict(extra="allow")

    sku: str
    description: str | None = None
    uom: str = "EA"
    active: bool = True


class StockRow(_Model):
    warehouse_id: str
    sku: str
    on_hand: int = 0
    reserved: int = 0
    as_of: datetime | None = None

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(_Model):
    """What one order holds in one warehouse: `lines` maps SKU to quantity."""

    order_id: str
    warehouse_id: str
    lines: dict[str, int]
    run_id: str | None = None
    at: datetime


class ActorType(StrEnum):
    USER = "user"
    SYSTEM = "system"
    EXTERNAL = "external"


# `.value` of these enums, read straight from the member (`_value_`, what
# Enum's own property returns through two Python calls): the serializer reads
# it for every status, line source and actor type it writes, the audit diff
# and the flow counters for every order write (a 100k allocation run, 1.7
# million reads).
for _enum in (OrderStatus, OrderKind, LineSource, CheckStatus, ActorType):
    _enum.value = property(attrgetter("_value_"))  # type: ignore[method-assign,assignment]
del _enum


class Actor(_Model):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ActorType
    id: str


SYSTEM = Actor(type=ActorType.SYSTEM, id="oms")


class Change(_Model):
    path: str
    old: Any = None
    new: Any = None


class AuditEntry(_Model):
    audit_id: str
    order_id: str | None
    project_id: str
    stream_id: str | None = None
    at: datetime
    actor: Actor
    action: str
    from_status: OrderStatus | None = None
    to_status: OrderStatus | None = None
    changes: list[Change] = Field(default_factory=list)
    reason: str | None = None
    correlation_id: str | None = None


class OutboxEvent(_Model):
    """An outbound order event, written with the change that caused it and
    published later as a CloudEvent with `id` as its stable id."""

    id: str
    type: str
    subject: str
    project_id: str
    time: datetime
    data: dict[str, Any]
    delivered_at: datetime | None = None


class Marker(_Model):
    """An idempotency marker: the inbound event `event_id` from `source` was processed."""

    marker_id: str
    project_id: str
    source: str
    event_id: str
    outcome: str
    at: datetime


# rejected: the job's input was refused whole (a file that is not Parquet, an
# event file that is not JSON): it is quarantined and nothing else changed.
# abandoned: the run's process stopped without ending it (no heartbeat for
# OMS_JOB_ABANDON_MINUTES); the sweep says so (common/service/jobs.py).
JobStatus = Literal["running", "succeeded", "failed", "rejected", "abandoned", "incomplete"]


class JobRun(_Model):
    job_id: str
    job: str
    source: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    status: JobStatus = "running"
    heartbeat_at: datetime | None = None  # a running run's last sign of life
    counts: dict[str, int] = Field(default_factory=dict)
    error: dict[str, Any] | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Reason(_Model):
    loc: list[str | int] = Field(default_factory=list)
    msg: str
    type: str | None = None


QuarantineStatus = Literal["open", "reprocessed", "discarded"]


class QuarantineRecord(_Model):
    id: str
    source: str
    received_at: datetime
    reasons: list[Reason]
    payload: Any
    status: QuarantineStatus = "open"
    attempts: int = 1
    job_id: str | None = None
    event_id: str | None = None
    order_id: str | None = None
    project_id: str | None = None
