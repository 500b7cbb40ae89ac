"""What stakeholders read about an incident (docs/incidents.md, Messages). Pure.

Three kinds of message: the *notice* (the first one a stakeholder gets: what
happened and what it touches), *updates* (acknowledged, mitigated, happened
again, an operator's note) and the *summary* at resolution (root cause,
resolution, how long it took). Each says the impact in words and numbers,
for the stakeholder's own scope (the markets and projects they subscribed
to) and overall. The same text goes by mail and webhook; `data` carries it
for machines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from common.domain.incidents import (
    SYSTEM_NAMES,
    Impact,
    Incident,
    IncidentStatus,
    OrderAtRisk,
    Subscription,
    recipient,
)

SHOWN = 20  # orders listed in a message; the numbers count them all


class MessageKind(StrEnum):
    NOTICE = "notice"
    UPDATE = "update"
    SUMMARY = "resolved"


EVENT_TYPES = {MessageKind.NOTICE: "oms.incident.notice", MessageKind.UPDATE: "oms.incident.update",
               MessageKind.SUMMARY: "oms.incident.resolved"}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    level: str
    data: dict[str, Any]


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _hours(hours: float | None) -> str:
    if hours is None:
        return ""
    if hours < 0:
        return f"breached {abs(hours):.0f} h ago"
    return f"in {hours:.0f} h" if hours < 48 else f"in {hours / 24:.1f} days"


def _order_line(order: OrderAtRisk) -> str:
    sla = (f"{order.clock} SLA due {_when(order.due)} ({_hours(order.hours_left)})" if order.due
           else "no SLA running")
    where = f"project {order.project_id}, {order.market or 'no market'}"
    return f"  - {order.order_id} ({where}): {order.status.value}, {sla}"


def impact_in_words(impact: Impact) -> str:
    """One sentence: how many orders and projects, where, and the nearest SLA."""
    if not impact.order_count and not impact.projects:
        return "No order or project is known to be affected."
    markets = ", ".join(impact.market_names) or "no market on record"
    projects = _plural(len(impact.projects), "project")
    if impact.order_count:
        verb = "is" if impact.order_count == 1 else "are"
        text = f"{_plural(impact.order_count, 'order')} in {projects} ({markets}) {verb} affected."
    else:
        verb = "is" if len(impact.projects) == 1 else "are"
        text = f"{projects} ({markets}) {verb} affected, with no order yet."
    if impact.breached:
        text += f" {_plural(impact.breached, 'order')} already missed an SLA."
    first = next((o for o in impact.orders if o.due is not None), None)
    if first is not None:
        text += (f" The nearest SLA at risk: order {first.order_id} ({first.clock}) due {_when(first.due)}, "
                 f"{_hours(first.hours_left)}.")
    return text


def _impact_lines(impact: Impact) -> list[str]:
    lines = [f"  {impact_in_words(impact)}", ""]
    lines += [f"  Orders affected:    {impact.order_count:>6}", f"  Projects affected:  {len(impact.projects):>6}",
              f"  Markets affected:   {len(impact.markets):>6}", f"  SLAs missed:        {impact.breached:>6}"]
    if impact.markets:
        lines += ["", "  By market:"]
        lines += [f"    {m.market:<20} {_plural(m.projects, 'project')}, {_plural(m.orders, 'order')}"
                  + (f", nearest SLA {_when(m.due)} ({_hours(m.hours_left)})" if m.due else "")
                  for m in impact.markets]
    if impact.orders:
        lines += ["", "  Orders (nearest SLA first):"]
        lines += [_order_line(o) for o in impact.orders[:SHOWN]]
        if impact.order_count > SHOWN:
            lines.append(f"  ... and {impact.order_count - SHOWN} more")
    return lines


def _timeline(incident: Incident) -> list[str]:
    lines = [f"  Opened:        {_when(incident.opened_at)}",
             f"  Acknowledged:  {_when(incident.acknowledged_at)}",
             f"  Mitigated:     {_when(incident.mitigated_at)}",
             f"  Resolved:      {_when(incident.resolved_at)}"]
    if incident.eta and incident.status != IncidentStatus.RESOLVED:
        lines.append(f"  Expected resolution: {_when(incident.eta)}")
    return lines


def duration_hours(incident: Incident) -> float | None:
    if incident.resolved_at is None:
        return None
    return round((incident.resolved_at - incident.opened_at).total_seconds() / 3600, 2)


def _scope_name(markets: list[str], projects: list[str], everything: bool) -> str:
    if everything:
        return "all markets"
    parts = ([f"market {', '.join(markets)}"] if markets else []) + ([f"project {', '.join(projects)}"]
                                                                   if projects else [])
    return " and ".join(parts) or "your subscription"


def _counts(impact: Impact) -> dict[str, Any]:
    return {"orders": impact.order_count, "projects": len(impact.projects), "markets": impact.market_names,
            "breached": impact.breached, "due": impact.due.isoformat() if impact.due else None,
            "systems": impact.systems, "order_ids": [o.order_id for o in impact.orders[:SHOWN * 5]],
            "project_ids": impact.project_ids}


def render(incident: Incident, kind: MessageKind, mine: Impact, *, update: str | None = None,
           markets: list[str] | None = None, projects: list[str] | None = None, everything: bool = False) -> Message:
    """The message of `kind` for a stakeholder whose part of the impact is `mine`."""
    overall = incident.impact
    scope = _scope_name(markets or [], projects or [], everything)
    head = {MessageKind.NOTICE: "Opened", MessageKind.UPDATE: incident.status.value.capitalize(),
            MessageKind.SUMMARY: "Resolved"}[kind]
    subject = (f"[OMS incident {incident.incident_id}] {head}: {incident.title} - "
               f"{_plural(mine.order_count, 'order')}, {_plural(len(mine.projects), 'project')} in {scope}")
    lines = [f"Incident {incident.incident_id}: {incident.title}",
             f"Status:   {incident.status.value}    Severity: {incident.severity.value}", ""]
    if update:
        lines += ["Update", f"  {update}", ""]
    if kind == MessageKind.SUMMARY:
        lines += ["Resolution summary", f"  Root cause:  {incident.root_cause}",
                  f"  Resolution:  {incident.resolution}", f"  Duration:    {duration_hours(incident)} h", ""]
    lines += ["What happened", f"  {incident.summary}"]
    if incident.occurrences > 1:
        lines.append(f"  It happened {incident.occurrences} times, last at {_when(incident.last_seen_at)}.")
    lines += ["", f"Impact in your scope ({scope})", *_impact_lines(mine), ""]
    if not everything and (mine.order_count, len(mine.projects)) != (overall.order_count, len(overall.projects)):
        lines += ["Overall", f"  {impact_in_words(overall)}", ""]
    lines += ["Systems touched", *[f"  - {SYSTEM_NAMES.get(s, s)}" for s in overall.systems], ""]
    lines += ["Timeline", *_timeline(incident)]
    if incident.notes:
        lines += ["", "Notes from operations", *[f"  - {n}" for n in incident.notes[-5:]]]
    level = "info" if kind == MessageKind.SUMMARY else "warning" if kind == MessageKind.UPDATE else "error"
    data = {"type": EVENT_TYPES[kind], "incident_id": incident.incident_id, "title": incident.title,
            "status": incident.status.value, "severity": incident.severity.value, "source": incident.source.value,
            "summary": incident.summary, "update": update, "occurrences": incident.occurrences,
            "opened_at": incident.opened_at.isoformat(),
            "acknowledged_at": incident.acknowledged_at.isoformat() if incident.acknowledged_at else None,
            "mitigated_at": incident.mitigated_at.isoformat() if incident.mitigated_at else None,
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            "eta": incident.eta.isoformat() if incident.eta else None, "root_cause": incident.root_cause,
            "resolution": incident.resolution, "duration_hours": duration_hours(incident),
            "scope": {"markets": markets or [], "projects": projects or [], "all": everything},
            "impact": _counts(mine), "overall": _counts(overall)}
    return Message(subject=subject, body="\n".join(lines), level=level, data=data)


# ------------------------------------------------------------------ who hears what
@dataclass
class Delivery:
    """One message to one recipient, for their part of the impact."""

    channel: str
    address: str
    kind: MessageKind
    markets: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    everything: bool = False

    @property
    def recipient(self) -> str:
        return recipient(self.channel, self.address)


def plan(subscriptions: list[Subscription], incident: Incident, kind: MessageKind) -> list[Delivery]:
    """Who hears of `incident` now, and with which message: a recipient not
    told yet gets the notice (or, at resolution, the summary); one told
    already gets `kind` (and nothing when `kind` is the notice)."""
    by_recipient: dict[str, Delivery] = {}
    names = set(incident.impact.market_names)
    projects = set(incident.impact.project_ids)
    for sub in subscriptions:
        if not sub.matches(incident.impact):
            continue
        told = sub.recipient in incident.notified
        what = kind if told or kind == MessageKind.SUMMARY else MessageKind.NOTICE
        if told and kind == MessageKind.NOTICE:
            continue
        delivery = by_recipient.setdefault(sub.recipient, Delivery(sub.channel.value, sub.address, what))
        if sub.market == "*":
            delivery.everything = True
        elif sub.market in names and sub.market not in delivery.markets:
            delivery.markets.append(sub.market)
        elif sub.project_id in projects and sub.project_id not in delivery.projects:
            delivery.projects.append(sub.project_id)
    return list(by_recipient.values())


def describe(deliveries: list[Delivery]) -> dict[str, Any]:
    """What the audit entry records of a round of messages."""
    return {kind.value: sorted(d.recipient for d in deliveries if d.kind == kind)
            for kind in MessageKind if any(d.kind == kind for d in deliveries)}
