"""`oms incidents`: list, show, acknowledge, mitigate, resolve and post
updates; who hears of incidents (subscriptions). docs/incidents.md.

Exit status as every `oms` command: 0 done, 1 refused (unknown incident, a
move the lifecycle does not allow, a stale version), 2 a usage error (a
missing root cause, a subscription without one scope and one channel).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from common.domain.incidents import Incident, IncidentInvalid, IncidentRefused
from common.domain.models import Actor, ActorType
from common.service.bootstrap import Deps, get_deps

incidents_app = typer.Typer(no_args_is_help=True, help="Incidents and who hears of them (stakeholders).")
out = Console()


def _deps() -> Deps:
    return get_deps()


def _actor() -> Actor:
    return Actor(type=ActorType.USER, id=os.environ.get("USER") or "cli")


def _fail(message: str, code: int) -> Exception:
    from common.cli import CliError  # the one-line reason and exit status of `oms` (not at import: cli imports us)

    return CliError(message, code)


def _json(text: str) -> None:
    """One JSON document on one line (a list is JSON lines)."""
    out.file.write(text + "\n")
    out.file.flush()


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="minutes") if at else "-"


def _eta(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as error:
        raise _fail(f"--eta {value!r} is not an ISO 8601 time (2026-11-20T12:00:00Z)", 2) from error
    if at.tzinfo is None:
        raise _fail(f"--eta {value!r} needs a time zone (Z or +hh:mm)", 2)
    return at


@incidents_app.command("list")
def incidents_list(
    status: Annotated[str | None, typer.Option(help="open, acknowledged, mitigated, resolved or live")] = None,
    market: Annotated[str | None, typer.Option(help="only those touching this market")] = None,
    project: Annotated[str | None, typer.Option(help="only those touching this project")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Incidents, newest first."""
    if status is not None and status not in ("open", "acknowledged", "mitigated", "resolved", "live"):
        raise _fail(f"--status {status!r}: use open, acknowledged, mitigated, resolved or live", 2)
    page = _deps().store.list_incidents(status, market, project, limit)
    if as_json:
        for incident in page.items:
            _json(incident.model_dump_json())
        return
    table = Table(title=f"incidents ({len(page.items)}{'+' if page.continuation else ''})")
    for column in ("incident", "status", "severity", "opened", "title", "orders", "projects", "markets", "seen"):
        table.add_column(column, overflow="fold")
    for i in page.items:
        table.add_row(i.incident_id, i.status.value, i.severity.value, _when(i.opened_at), i.title,
                      str(i.impact.order_count), str(len(i.impact.projects)), ", ".join(i.impact.market_names),
                      str(i.occurrences))
    out.print(table)


def _show(deps: Deps, incident: Incident) -> None:
    from common.domain.incident_notices import impact_in_words

    out.print(f"[bold]{incident.incident_id}[/bold] {incident.title}", highlight=False)
    rows = [("status", incident.status.value), ("severity", incident.severity.value),
            ("key", incident.key), ("summary", incident.summary), ("impact", impact_in_words(incident.impact)),
            ("systems", ", ".join(incident.impact.systems)), ("occurrences", str(incident.occurrences)),
            ("opened", _when(incident.opened_at)), ("acknowledged", _when(incident.acknowledged_at)),
            ("mitigated", _when(incident.mitigated_at)), ("resolved", _when(incident.resolved_at)),
            ("eta", _when(incident.eta)), ("root cause", incident.root_cause or "-"),
            ("resolution", incident.resolution or "-"), ("stakeholders told", str(len(incident.notified))),
            ("etag", incident.etag or "-")]
    for name, value in rows:
        out.print(f"  {name:<18} {value}", highlight=False)
    table = Table(title="affected orders (nearest SLA first)")
    for column in ("order", "project", "market", "status", "SLA clock", "due", "hours left"):
        table.add_column(column, overflow="fold")
    for o in incident.impact.orders[:50]:
        table.add_row(o.order_id, o.project_id, o.market or "-", o.status.value, o.clock or "-", _when(o.due),
                      "-" if o.hours_left is None else f"{o.hours_left:g}")
    out.print(table)
    audit = Table(title="changes")
    for column in ("at", "by", "action", "from", "to", "note"):
        audit.add_column(column, overflow="fold")
    for a in deps.store.incident_audit(incident.incident_id):
        audit.add_row(_when(a.at), f"{a.actor.type.value}:{a.actor.id}", a.action,
                      a.from_status.value if a.from_status else "", a.to_status.value if a.to_status else "",
                      a.reason or "")
    out.print(audit)


@incidents_app.command("show")
def incidents_show(
    incident_id: Annotated[str, typer.Argument(help="the incident")],
    as_json: Annotated[bool, typer.Option("--json", help="the incident and its changes as JSON")] = False,
) -> None:
    """An incident: its impact, timeline and every change."""
    deps = _deps()
    incident = deps.store.get_incident(incident_id)
    if incident is None:
        raise _fail(f"incident {incident_id} not found", 1)
    if as_json:
        _json(json.dumps({"incident": incident.model_dump(mode="json"),
                           "audit": [a.model_dump(mode="json") for a in deps.store.incident_audit(incident_id)]}))
        return
    _show(deps, incident)


def _change(incident_id: str, action: str, **fields: Any) -> None:
    from common.service import incidents

    try:
        done = incidents.change(_deps(), incident_id, action, actor=_actor(), **fields)
    except incidents.IncidentNotFound as error:
        raise _fail(str(error), 1) from error
    except IncidentRefused as error:
        raise _fail(error.message, 1) from error
    except incidents.IncidentConflict as error:
        raise _fail(str(error), 1) from error
    except IncidentInvalid as error:
        raise _fail(error.message, 2) from error
    out.print(f"{done.incident_id}: {done.status.value} (told {len(done.notified)} stakeholder(s) so far)",
              highlight=False)


Note = Annotated[str | None, typer.Option(help="what stakeholders should read")]
Eta = Annotated[str | None, typer.Option(help="expected resolution, ISO 8601 with a time zone")]
IfMatch = Annotated[str | None, typer.Option("--if-match", help="only if the incident still has this ETag")]


@incidents_app.command("ack")
def incidents_ack(incident_id: Annotated[str, typer.Argument(help="the incident")], note: Note = None,
                  eta: Eta = None, if_match: IfMatch = None) -> None:
    """open -> acknowledged; its stakeholders get an update."""
    _change(incident_id, "acknowledge", note=note, eta=_eta(eta), if_match=if_match)


@incidents_app.command("mitigate")
def incidents_mitigate(incident_id: Annotated[str, typer.Argument(help="the incident")], note: Note = None,
                       root_cause: Annotated[str | None, typer.Option(help="the cause, if known")] = None,
                       eta: Eta = None, if_match: IfMatch = None) -> None:
    """open or acknowledged -> mitigated; its stakeholders get an update."""
    _change(incident_id, "mitigate", note=note, root_cause=root_cause, eta=_eta(eta), if_match=if_match)


@incidents_app.command("resolve")
def incidents_resolve(incident_id: Annotated[str, typer.Argument(help="the incident")],
                      root_cause: Annotated[str, typer.Option(help="why it happened")],
                      resolution: Annotated[str, typer.Option(help="what was done, what remains")],
                      note: Note = None, if_match: IfMatch = None) -> None:
    """-> resolved (final); its stakeholders get the resolution summary."""
    _change(incident_id, "resolve", root_cause=root_cause, resolution=resolution, note=note, if_match=if_match)


@incidents_app.command("update")
def incidents_update(incident_id: Annotated[str, typer.Argument(help="the incident")],
                     note: Annotated[str, typer.Option(help="what stakeholders should read")],
                     eta: Eta = None, if_match: IfMatch = None) -> None:
    """Post an update to the incident's stakeholders (no status change)."""
    _change(incident_id, "update", note=note, eta=_eta(eta), if_match=if_match)


@incidents_app.command("subscriptions")
def incidents_subscriptions(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
) -> None:
    """Who hears of incidents: from OMS_INCIDENT_SUBSCRIBERS and added ones."""
    from common.service.stakeholders import all_subscriptions

    found = all_subscriptions(_deps())
    if as_json:
        for s in found:
            _json(s.model_dump_json())
        return
    table = Table(title=f"incident subscriptions ({len(found)})")
    for column in ("id", "market / project", "channel", "address", "name", "from"):
        table.add_column(column, overflow="fold")
    for s in found:
        table.add_row(s.subscription_id, f"market {s.market}" if s.market else f"project {s.project_id}",
                      s.channel.value, s.address, s.name or "", "settings" if s.from_settings else s.created_by or "")
    out.print(table)


@incidents_app.command("subscribe")
def incidents_subscribe(
    market: Annotated[str | None, typer.Option(help='a market ("*": every incident)')] = None,
    project: Annotated[str | None, typer.Option(help="a project id")] = None,
    mail: Annotated[str | None, typer.Option(help="a mail address")] = None,
    webhook: Annotated[str | None, typer.Option(help="an http(s) URL")] = None,
    name: Annotated[str | None, typer.Option(help="who this is")] = None,
) -> None:
    """Subscribe a mail address or a webhook to one market's or project's incidents."""
    from common.service.stakeholders import SubscriptionInvalid, subscribe

    try:
        found, created = subscribe(_deps(), market=market, project_id=project, mail=mail, webhook=webhook,
                                   name=name, actor=_actor())
    except SubscriptionInvalid as error:
        raise _fail(str(error).replace("body.", "--").replace("_id", ""), 2) from error
    out.print(f"{found.subscription_id}: {'added' if created else 'exists already'}", highlight=False)


@incidents_app.command("unsubscribe")
def incidents_unsubscribe(subscription_id: Annotated[str, typer.Argument(help="the subscription")]) -> None:
    """Remove a subscription added over the API or the CLI."""
    from common.service.stakeholders import from_settings

    deps = _deps()
    if deps.store.delete_subscription(subscription_id):
        out.print(f"{subscription_id}: removed", highlight=False)
        return
    if any(s.subscription_id == subscription_id for s in from_settings(deps)):
        raise _fail(f"subscription {subscription_id} comes from OMS_INCIDENT_SUBSCRIBERS; remove it there", 1)
    raise _fail(f"subscription {subscription_id} not found", 1)
