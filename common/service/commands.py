"""Commands: what entry points ask the service layer to do (imperative names)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.domain.models import Actor, ActorType, LineSource
from common.service.decoding import JsonRefused, loads

ENGINEERING_SOURCE = "engineering-events"


@dataclass(frozen=True)
class Undecodable:
    """An inbound message whose body is not JSON, or JSON the bounded decoder
    refuses (common.service.decoding): it is quarantined as it came."""

    text: str
    error: str
    kind: str = "json_invalid"  # the reason type: json_invalid, too_deep, number_too_long, ...


@dataclass(frozen=True)
class IngestEngineeringEvents:
    """Apply a batch of engineering events (decoded JSON values, or `Undecodable`)."""

    events: Sequence[Any]
    channel: str = "eventhub"  # eventhub | http | file | quarantine
    actor: Actor = field(default_factory=lambda: Actor(type=ActorType.EXTERNAL, id="engineering"))
    file_name: str | None = None


@dataclass(frozen=True)
class ReevaluateParkedDesigns:
    """Apply the parked designs of projects that may qualify now."""

    project_ids: Sequence[str]
    correlation_id: str


def decode_json(body: bytes | str) -> Any:
    """A message body as JSON (common.service.decoding: bounded), or
    `Undecodable` to be quarantined as it came."""
    try:
        return loads(body)
    except JsonRefused as error:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        return Undecodable(text=text, error=error.msg, kind=error.kind)


WAREHOUSE_SOURCE = "warehouse-events"


@dataclass(frozen=True)
class ApplyWarehouseEvents:
    """Apply a batch of warehouse events (decoded JSON values, or `Undecodable`)."""

    events: Sequence[Any]
    channel: str = "eventhub"  # eventhub | http | file | quarantine
    actor: Actor = field(default_factory=lambda: Actor(type=ActorType.EXTERNAL, id="warehouse"))
    file_name: str | None = None
    # Event ids marked as processed whose effect never happened: they were held
    # on their order and later taken off it into quarantine. Reprocessing that
    # record decides them again instead of skipping them as duplicates.
    replay: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RunAllocation:
    """One allocation run (timer, HTTP or CLI). `dry_run` changes nothing and
    reports what the run would do; `mode` is `greedy` or `optimal`."""

    dry_run: bool = False
    mode: str = "greedy"  # greedy | optimal
    actor: Actor = field(default_factory=lambda: Actor(type=ActorType.SYSTEM, id="allocation"))
    trigger: str = "manual"  # timer | http | cli | manual: shown as the job run's source
    wait_seconds: float = 0  # another run holds the lease: wait this long for it, then RunInProgress


# ------------------------------------------------------------------ review
@dataclass(frozen=True)
class LineInput:
    sku: str
    qty: int
    uom: str = "EA"
    source: LineSource | None = None  # None: kept from the order's line of that SKU, else manual


@dataclass(frozen=True)
class EditOrder:
    """Replace the lines (when `lines` is not None) and set `fields` (merge-patch)."""

    order_id: str
    actor: Actor
    if_match: str | None
    lines: Sequence[LineInput] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None


@dataclass(frozen=True)
class AddItems:
    order_id: str
    actor: Actor
    items: Sequence[LineInput]
    if_match: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class ApproveOrder:
    order_id: str
    actor: Actor
    if_match: str | None = None
    comment: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class RejectOrder:
    order_id: str
    actor: Actor
    reason: str
    if_match: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class CancelOrder:
    order_id: str
    actor: Actor
    reason: str | None = None
    if_match: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class ReprocessOrder:
    order_id: str
    actor: Actor
    correlation_id: str
    if_match: str | None = None


@dataclass(frozen=True)
class ReprocessQuarantined:
    record_id: str
    actor: Actor
    correlation_id: str | None = None


# ---------------------------------------------------------------- datasets
@dataclass(frozen=True)
class IngestDataset:
    """Load one Parquet dump of `dataset` (a path, or the bytes of a blob).
    With a `time_budget` (seconds), writing stops once it is spent and
    `IngestionIncomplete` is raised; the next attempt on the same file resumes
    where this one stopped (the Blob trigger's host retries it)."""

    dataset: str
    source: Path | bytes
    name: str  # file or blob name, for the job run and the quarantine record
    channel: str = "file"  # file | blob | inbox | quarantine
    time_budget: float | None = None
    confirmed: bool = False  # an operator confirmed a destructive dump (OMS_INGEST_MAX_REMOVE_SHARE)


@dataclass(frozen=True)
class ConfirmDataset:
    """Apply a dump that was held because it would remove or deactivate too much."""

    record_id: str
    actor: Actor


@dataclass(frozen=True)
class PublishOutbox:
    """Order events handed over by the change feed (event dicts, in the feed's
    order), and outbox documents that hold no readable event (quarantined)."""

    events: Sequence[dict[str, Any]]
    unreadable: Sequence[Any] = ()


@dataclass(frozen=True)
class FollowProjectMaster:
    """Open orders of these projects take the project master's current
    priority, gated flag, plan type, market and warehouse."""

    project_ids: Sequence[str]
    correlation_id: str


# ------------------------------------------------------------- replenishment
@dataclass(frozen=True)
class EvaluateReplenishment:
    """Compare each watched (warehouse, SKU)'s projected position with its
    reorder policy: open, raise or fulfil replenishment requests. `trigger`
    says what changed (stock_adjusted, snapshot, return, allocation, master,
    policy, timer, manual); `keys` limits it to some (warehouse, SKU)s;
    `arrived` names those whose stock came in (their open requests may be
    fulfilled)."""

    trigger: str
    correlation_id: str | None = None
    keys: frozenset[tuple[str, str]] | None = None
    arrived: frozenset[tuple[str, str]] = frozenset()
    actor: Actor = field(default_factory=lambda: Actor(type=ActorType.SYSTEM, id="replenishment"))
