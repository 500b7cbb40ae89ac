"""Incidents (DESIGN.md section 3, Incidents and stakeholder communication). Pure.

A failed job, a dead-lettered batch, an SLA breach wave or a held release is
a *signal*. A signal opens an incident under a *key* (what kind of failure,
where): while an incident with that key is not resolved, another signal of
the same key is a recurrence of it and updates it (its impact grows, it
counts the occurrence) instead of opening a second one.

The impact is assessed from the data, never typed in: the affected orders,
their projects and markets, the SLA clock at risk for each (the nearest
deadline an order can miss: its state's SLA age, or material on site by its
need-by day), and the outside systems touched.

The lifecycle is one table (`MOVES`): open -> acknowledged -> mitigated ->
resolved; mitigating or resolving may skip a step, nothing goes back, and a
resolved incident is final (a later failure opens a new one). Resolving needs
a root cause and resolution notes. Every change returns the incident and one
audit entry, written together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.domain.errors import DomainError
from common.domain.models import DELIVERED_STATUSES, Actor, Change, Order, OrderStatus, Project, Reason
from common.domain.sla import entered_at, need_by_deadline


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


class IncidentSource(StrEnum):
    JOB_FAILED = "job_failed"
    DEAD_LETTER = "dead_letter"
    SLA_WAVE = "sla_wave"
    HELD_RELEASE = "held_release"


class Severity(StrEnum):
    HIGH = "high"  # an SLA is breached already, or runs out within the risk window
    MEDIUM = "medium"  # orders or projects are affected, their SLAs further off
    LOW = "low"  # nothing identified downstream (e.g. a sweep that failed)


# The four outside systems (DESIGN.md section 1), as stakeholders read them.
ENGINEERING = "engineering"
PROJECT_PLANNING = "project-planning"
WAREHOUSE = "warehouse"
ORDER_EVENTS = "order-events"
SYSTEM_NAMES: dict[str, str] = {
    ENGINEERING: "engineering design intake",
    PROJECT_PLANNING: "project planning master data",
    WAREHOUSE: "warehouse releases and stock",
    ORDER_EVENTS: "order events to downstream consumers",
}
# Orders that hold stock: the warehouse is touched whenever one is affected.
HOLDING_STOCK = frozenset({OrderStatus.ALLOCATED, OrderStatus.RELEASED})
NO_SLA = DELIVERED_STATUSES | {OrderStatus.CANCELLED}

# Blank text: these characters only. Spelled out (not \s), so the API's document,
# pydantic and Python agree on what is blank (their \s differ on control characters).
BLANK = " \t\n\r\f\v"
NOT_BLANK = r"[^ \t\n\r\f\v]"
LISTED = 2000  # affected orders kept on the incident (a Cosmos DB document is at most 2 MB); counts stay exact
SIGNALS = 500  # occurrences kept on the incident, newest; `occurrences` counts them all


def systems_of_job(job: str) -> list[str]:
    """The outside systems a failed job touches, by what the job does."""
    if "engineering" in job:
        return [ENGINEERING, ORDER_EVENTS]
    if "warehouse" in job or job.startswith("allocation"):
        return [WAREHOUSE, ORDER_EVENTS]
    if "master" in job or "project" in job:
        return [PROJECT_PLANNING, ORDER_EVENTS]
    if "catalog" in job or "stock" in job:
        return [WAREHOUSE]
    return [ORDER_EVENTS]


def systems_of_source(source: str) -> list[str]:
    """The systems a dead-lettered batch from Event Hub `source` touches."""
    return [ENGINEERING, ORDER_EVENTS] if "engineering" in source else [WAREHOUSE, ORDER_EVENTS]


# ------------------------------------------------------------------ models
class OrderAtRisk(_Model):
    """One affected order and the SLA clock it may miss."""

    order_id: str
    project_id: str
    market: str | None = None
    status: OrderStatus
    clock: str | None = None  # "<Status> age" or "need-by"; None: no SLA runs (closed, cancelled)
    due: datetime | None = None
    hours_left: float | None = None  # negative: breached already


class ProjectImpact(_Model):
    project_id: str
    market: str | None = None
    orders: int = 0
    due: datetime | None = None  # the nearest SLA deadline among its affected orders
    hours_left: float | None = None


class MarketImpact(_Model):
    market: str
    projects: int = 0
    orders: int = 0
    due: datetime | None = None
    hours_left: float | None = None


class Impact(_Model):
    """What a failure touches, with exact counts (lists of orders are kept up
    to LISTED; `order_count` counts them all)."""

    orders: list[OrderAtRisk] = Field(default_factory=list)
    projects: list[ProjectImpact] = Field(default_factory=list)
    markets: list[MarketImpact] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)
    records: list[str] = Field(default_factory=list)  # what failed that is not an order: event ids, letters
    order_count: int = 0
    breached: int = 0  # affected orders past their SLA already
    due: datetime | None = None  # the nearest deadline of all
    assessed_at: datetime | None = None

    @property
    def market_names(self) -> list[str]:
        return [m.market for m in self.markets]

    @property
    def project_ids(self) -> list[str]:
        return [p.project_id for p in self.projects]


class Signal(_Model):
    """One occurrence: what happened, when, and what names it (a job run id,
    a dead letter, a sweep's run id, an order)."""

    kind: IncidentSource
    ref: str
    at: datetime
    detail: str = ""


class Incident(_Model):
    incident_id: str
    key: str  # open incidents are unique per key
    source: IncidentSource
    title: str
    summary: str  # what happened, in words
    status: IncidentStatus = IncidentStatus.OPEN
    severity: Severity = Severity.MEDIUM
    impact: Impact = Field(default_factory=Impact)
    signals: list[Signal] = Field(default_factory=list)
    occurrences: int = 1
    opened_at: datetime
    last_seen_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    mitigated_at: datetime | None = None
    mitigated_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    root_cause: str | None = None
    mitigation: str | None = None
    resolution: str | None = None
    eta: datetime | None = None  # when operators expect it resolved
    notes: list[str] = Field(default_factory=list)
    # Stakeholders told so far (`recipient`: "mail:<address>", "webhook:<host>/…#<digest>"): the first
    # message anyone gets is the notice, then updates and the summary.
    notified: list[str] = Field(default_factory=list)
    revision: int = 1
    etag: str | None = None


class IncidentAudit(_Model):
    """One change of an incident; insert-only, written with the change."""

    audit_id: str
    incident_id: str
    at: datetime
    actor: Actor
    action: str
    from_status: IncidentStatus | None = None
    to_status: IncidentStatus | None = None
    changes: list[Change] = Field(default_factory=list)
    reason: str | None = None
    correlation_id: str | None = None


def recipient(channel: str, address: str) -> str:
    """How a stakeholder is named on an incident (`notified`, audit entries),
    which every viewer reads: a mail address as it is; a webhook by its
    scheme and host and a digest of the whole URL, never its path (chat
    webhooks carry their secret there)."""
    if channel != "webhook":
        return f"{channel}:{address}"
    scheme, _, rest = address.partition("://")
    digest = hashlib.sha256(address.encode()).hexdigest()[:12]
    return f"webhook:{scheme}://{rest.split('/', 1)[0]}/…#{digest}"


class SubscriptionChannel(StrEnum):
    MAIL = "mail"
    WEBHOOK = "webhook"


class Subscription(_Model):
    """A stakeholder who hears of incidents touching a market or a project
    (`market` "*": every incident)."""

    subscription_id: str
    market: str | None = None
    project_id: str | None = None
    channel: SubscriptionChannel
    address: str
    name: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    from_settings: bool = False

    @property
    def recipient(self) -> str:
        return recipient(self.channel.value, self.address)

    def matches(self, impact: Impact) -> bool:
        if self.market is not None and (self.market == "*" or self.market in impact.market_names):
            return True
        return self.project_id is not None and self.project_id in impact.project_ids


# ------------------------------------------------------------------ errors
class IncidentRefused(DomainError):
    """A lifecycle move the table does not allow (HTTP 409, naming the status)."""

    code = "illegal_transition"

    def __init__(self, incident: Incident, action: str) -> None:
        super().__init__(f"cannot {action} incident {incident.incident_id}: it is {incident.status.value}")
        self.current = incident.status
        self.action = action


class IncidentInvalid(DomainError):
    """Input an incident change cannot take (HTTP 422 with field paths)."""

    code = "invalid_input"


# ------------------------------------------------------------------ impact
def sla_clock(order: Order, now: datetime, sla_hours: Mapping[str, float]) -> tuple[str | None, datetime | None]:
    """The nearest SLA deadline `order` can miss, and which clock it is."""
    if order.status in NO_SLA:
        return None, None
    found: list[tuple[datetime, str]] = []
    limit = sla_hours.get(order.status.value)
    if limit:
        found.append((entered_at(order) + timedelta(hours=limit), f"{order.status.value} age"))
    if order.need_by is not None:
        found.append((need_by_deadline(order.need_by), "need-by"))
    if not found:
        return None, None
    due, clock = min(found)
    return clock, due


def _hours(due: datetime | None, now: datetime) -> float | None:
    return None if due is None else round((due - now).total_seconds() / 3600, 1)


def _earliest(values: Iterable[datetime | None]) -> datetime | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def assess(orders: Iterable[Order], projects: Mapping[str, Project], now: datetime,
           sla_hours: Mapping[str, float], *, systems: Sequence[str], project_ids: Iterable[str] = (),
           records: Iterable[str] = ()) -> Impact:
    """The impact of a failure on `orders` (and on `project_ids` that have no
    affected order yet, e.g. a design for a new site), rolled up per project
    and market; `projects` gives each project's market."""
    at_risk: dict[str, OrderAtRisk] = {}
    for order in orders:
        clock, due = sla_clock(order, now, sla_hours)
        project = projects.get(order.project_id)
        at_risk[order.order_id] = OrderAtRisk(
            order_id=order.order_id, project_id=order.project_id,
            market=(project.market if project is not None else None) or order.market, status=order.status,
            clock=clock, due=due, hours_left=_hours(due, now))
    return _rollup(list(at_risk.values()), set(project_ids), projects, now, systems, records)


def _rollup(orders: list[OrderAtRisk], extra_projects: set[str], projects: Mapping[str, Project], now: datetime,
            systems: Iterable[str], records: Iterable[str]) -> Impact:
    by_project: dict[str, list[OrderAtRisk]] = {p: [] for p in sorted(extra_projects)}
    for item in orders:
        by_project.setdefault(item.project_id, []).append(item)
    project_rows: list[ProjectImpact] = []
    for project_id in sorted(by_project):
        items = by_project[project_id]
        known = projects.get(project_id)
        market = (known.market if known is not None else None) or next((o.market for o in items if o.market), None)
        due = _earliest(o.due for o in items)
        project_rows.append(ProjectImpact(project_id=project_id, market=market, orders=len(items), due=due,
                                          hours_left=_hours(due, now)))
    by_market: dict[str, list[ProjectImpact]] = {}
    for row in project_rows:
        if row.market:
            by_market.setdefault(row.market, []).append(row)
    market_rows = []
    for market in sorted(by_market):
        rows = by_market[market]
        due = _earliest(r.due for r in rows)
        market_rows.append(MarketImpact(market=market, projects=len(rows), orders=sum(r.orders for r in rows),
                                        due=due, hours_left=_hours(due, now)))
    systems = list(dict.fromkeys(systems))
    if any(o.status in HOLDING_STOCK for o in orders) and WAREHOUSE not in systems:
        systems.append(WAREHOUSE)
    orders = sorted(orders, key=lambda o: (o.due is None, o.due or now, o.order_id))
    due = _earliest(o.due for o in orders)
    return Impact(orders=orders[:LISTED], projects=project_rows, markets=market_rows, systems=systems,
                  records=list(dict.fromkeys(records))[:LISTED], order_count=len(orders),
                  breached=sum(1 for o in orders if o.due is not None and o.due <= now), due=due, assessed_at=now)


def merge(old: Impact, new: Impact, projects: Mapping[str, Project], now: datetime) -> Impact:
    """The impact of a recurrence: both occurrences' orders (the newer view of
    an order wins), projects, systems and records, rolled up again."""
    orders = {o.order_id: o for o in old.orders}
    orders.update({o.order_id: o for o in new.orders})
    refreshed = [o.model_copy(update={"hours_left": _hours(o.due, now)}) for o in orders.values()]
    extra = {p.project_id for p in old.projects} | {p.project_id for p in new.projects}
    known = dict(projects)
    for row in (*old.projects, *new.projects):  # markets of projects no longer loaded stay as assessed
        if row.project_id not in known and row.market:
            known[row.project_id] = Project(project_id=row.project_id, market=row.market, project_status="",
                                            milestone="")
    merged = _rollup(refreshed, extra, known, now, [*old.systems, *new.systems], [*old.records, *new.records])
    # Orders beyond the listed ones were counted before: keep the larger count.
    return merged.model_copy(update={"order_count": max(merged.order_count, old.order_count, new.order_count)})


def severity(impact: Impact, risk_hours: float) -> Severity:
    if impact.due is not None and impact.due - timedelta(hours=risk_hours) <= (impact.assessed_at or impact.due):
        return Severity.HIGH
    if impact.order_count or impact.projects:
        return Severity.MEDIUM
    return Severity.LOW


def scoped(impact: Impact, markets: set[str], project_ids: set[str], everything: bool = False) -> Impact:
    """The part of `impact` a stakeholder subscribed to (markets, projects)."""
    if everything:
        return impact
    projects = [p for p in impact.projects if p.project_id in project_ids or (p.market or "") in markets]
    keep = {p.project_id for p in projects}
    orders = [o for o in impact.orders if o.project_id in keep]
    market_rows = [m for m in impact.markets if m.market in {p.market for p in projects}]
    due = _earliest(o.due for o in orders)
    now = impact.assessed_at
    return impact.model_copy(update={
        "orders": orders, "projects": projects, "order_count": sum(p.orders for p in projects),
        "markets": [m.model_copy(update={"projects": sum(1 for p in projects if p.market == m.market),
                                         "orders": sum(p.orders for p in projects if p.market == m.market)})
                    for m in market_rows],
        "breached": sum(1 for o in orders if o.due is not None and now is not None and o.due <= now), "due": due})


# ------------------------------------------------------------------ lifecycle
MOVES: dict[str, tuple[frozenset[IncidentStatus], IncidentStatus]] = {
    "acknowledge": (frozenset({IncidentStatus.OPEN}), IncidentStatus.ACKNOWLEDGED),
    "mitigate": (frozenset({IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED}), IncidentStatus.MITIGATED),
    "resolve": (frozenset({IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.MITIGATED}),
                IncidentStatus.RESOLVED),
}
LIVE = frozenset({IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.MITIGATED})


@dataclass(frozen=True)
class IncidentChange:
    """An incident after a change, and the change's audit entry."""

    incident: Incident
    audit: IncidentAudit


def incident_id(key: str, opened_at: datetime) -> str:
    """Stable for a key and an instant (a retried open writes the same id)."""
    digest = hashlib.sha256(f"{key}|{opened_at.isoformat()}".encode()).hexdigest()[:8]
    return f"INC-{opened_at:%Y%m%d}-{digest}"


def _audit(incident: Incident, n: int, *, at: datetime, actor: Actor, action: str,
           before: IncidentStatus | None, changes: list[Change], reason: str | None,
           correlation_id: str | None) -> IncidentAudit:
    return IncidentAudit(audit_id=f"{incident.incident_id}@{n}", incident_id=incident.incident_id, at=at,
                         actor=actor, action=action, from_status=before,
                         to_status=incident.status if before != incident.status else None,
                         changes=changes, reason=reason, correlation_id=correlation_id)


def _diff(before: Incident, after: Incident, fields: Iterable[str]) -> list[Change]:
    out = []
    for name in fields:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            out.append(Change(path=name, old=_plain(old), new=_plain(new)))
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def open_incident(*, key: str, source: IncidentSource, title: str, summary: str, impact: Impact, signal: Signal,
                  risk_hours: float, actor: Actor, correlation_id: str | None = None) -> IncidentChange:
    at = signal.at
    incident = Incident(incident_id=incident_id(key, at), key=key, source=source, title=title, summary=summary,
                        severity=severity(impact, risk_hours), impact=impact, signals=[signal], opened_at=at,
                        last_seen_at=at, updated_at=at)
    audit = _audit(incident, 1, at=at, actor=actor, action="opened", before=None,
                   changes=[Change(path="impact", new=_counts(impact)), Change(path="signal", new=_plain(signal))],
                   reason=summary, correlation_id=correlation_id or signal.ref)
    return IncidentChange(incident, audit)


def _counts(impact: Impact) -> dict[str, Any]:
    return {"orders": impact.order_count, "projects": len(impact.projects), "markets": impact.market_names,
            "systems": impact.systems, "breached": impact.breached,
            "due": impact.due.isoformat() if impact.due else None}


def recur(incident: Incident, signal: Signal, impact: Impact, projects: Mapping[str, Project], risk_hours: float,
          actor: Actor) -> IncidentChange | None:
    """The same kind of failure again while `incident` is not resolved: counted,
    and its impact merged in. None when this very signal was counted already
    (a retried delivery of the same failure)."""
    if incident.status not in LIVE:
        raise IncidentRefused(incident, "add an occurrence to")
    if any(s.kind == signal.kind and s.ref == signal.ref for s in incident.signals):
        return None
    merged = merge(incident.impact, impact, projects, signal.at)
    after = incident.model_copy(update={
        "impact": merged, "severity": max(incident.severity, severity(merged, risk_hours), key=_rank),
        "signals": [*incident.signals, signal][-SIGNALS:], "occurrences": incident.occurrences + 1,
        "last_seen_at": signal.at, "updated_at": signal.at, "revision": incident.revision + 1})
    changes = [Change(path="occurrences", old=incident.occurrences, new=after.occurrences),
               Change(path="impact", old=_counts(incident.impact), new=_counts(merged)),
               Change(path="signal", new=_plain(signal))]
    audit = _audit(after, after.revision, at=signal.at, actor=actor, action="recurred", before=incident.status,
                   changes=changes, reason=signal.detail or None, correlation_id=signal.ref)
    return IncidentChange(after, audit)


def _rank(level: Severity) -> int:
    return {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}[level]


def grew(before: Impact, after: Impact) -> bool:
    """Whether a recurrence touched something new (worth telling stakeholders)."""
    return (after.order_count > before.order_count or len(after.projects) > len(before.projects)
            or set(after.market_names) - set(before.market_names) != set())


def _text(value: str | None, field: str, *, required: bool, limit: int = 4000) -> str | None:
    text = (value or "").strip(BLANK)
    if required and not text:
        raise IncidentInvalid(f"{field} is required", [Reason(loc=["body", field], msg="required", type="missing")])
    if len(text) > limit:
        raise IncidentInvalid(f"{field} is longer than {limit} characters",
                              [Reason(loc=["body", field], msg=f"at most {limit} characters", type="too_long")])
    return text or None


def move(incident: Incident, action: str, *, actor: Actor, at: datetime, note: str | None = None,
         root_cause: str | None = None, resolution: str | None = None, eta: datetime | None = None,
         correlation_id: str | None = None) -> IncidentChange:
    """acknowledge / mitigate / resolve. Refused (IncidentRefused) unless MOVES
    allows it from the current status; resolving needs a root cause and the
    resolution notes (IncidentInvalid)."""
    sources, target = MOVES[action]
    if incident.status not in sources:
        raise IncidentRefused(incident, action)
    note = _text(note, "note", required=False)
    update: dict[str, Any] = {"status": target, "updated_at": at, "revision": incident.revision + 1}
    if action == "resolve":
        update["root_cause"] = _text(root_cause, "root_cause", required=True)
        update["resolution"] = _text(resolution, "resolution", required=True)
        update["eta"] = None
    else:
        if root_cause is not None:
            update["root_cause"] = _text(root_cause, "root_cause", required=False)
        if eta is not None:
            if eta.tzinfo is None:
                raise IncidentInvalid("eta needs a time zone", [Reason(loc=["body", "eta"], msg="needs a time zone",
                                                                       type="naive_datetime")])
            update["eta"] = eta
    if action == "mitigate" and note:
        update["mitigation"] = note
    stamp = {"acknowledge": "acknowledged", "mitigate": "mitigated", "resolve": "resolved"}[action]
    update[f"{stamp}_at"] = at
    update[f"{stamp}_by"] = actor.id
    if note:
        update["notes"] = [*incident.notes, note]
    after = incident.model_copy(update=update)
    changes = _diff(incident, after, ("status", "root_cause", "mitigation", "resolution", "eta"))
    audit = _audit(after, after.revision, at=at, actor=actor, action=stamp, before=incident.status, changes=changes,
                   reason=note, correlation_id=correlation_id)
    return IncidentChange(after, audit)


def annotate(incident: Incident, note: str | None, *, actor: Actor, at: datetime, eta: datetime | None = None,
             correlation_id: str | None = None) -> IncidentChange:
    """An operator's update for stakeholders, without a status change."""
    if incident.status not in LIVE:
        raise IncidentRefused(incident, "post an update to")
    text = _text(note, "note", required=True)
    update: dict[str, Any] = {"notes": [*incident.notes, text], "updated_at": at, "revision": incident.revision + 1}
    if eta is not None:
        update["eta"] = eta
    after = incident.model_copy(update=update)
    audit = _audit(after, after.revision, at=at, actor=actor, action="updated", before=incident.status,
                   changes=_diff(incident, after, ("eta",)), reason=text, correlation_id=correlation_id)
    return IncidentChange(after, audit)


def told(incident: Incident, recipients: Iterable[str]) -> Incident:
    """`incident` with these stakeholders counted as told (written with the
    change that tells them)."""
    return incident.model_copy(update={"notified": list(dict.fromkeys([*incident.notified, *recipients]))})
