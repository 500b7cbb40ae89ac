"""Incidents: opened from failure signals with their impact assessed, moved
through their lifecycle by operators, and told to stakeholders
(common/domain/incidents.py for the rules, stakeholders.py for who hears).

Where signals come from:
- a job run that fails (common.service.jobs, `JobRecorder.finish`): the
  records it could not apply (`details["affected_refs"]`: event ids with
  their project, stream or order), or for an allocation run the orders it
  was to allocate;
- a batch dead-lettered because the store was down (common.service.deadletters);
- an SLA breach wave: at least the market's threshold of new breaches in
  one sweep (common.service.handlers.sla);
- a held release: a released order whose site engineering found not
  feasible (common.service.handlers.engineering).

Raising an incident never breaks what raised it: every failure here is
logged (the support team's own technical message went out already).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from common.domain import incidents as rules
from common.domain.incident_notices import MessageKind
from common.domain.incidents import (
    Incident,
    IncidentChange,
    IncidentSource,
    Signal,
)
from common.domain.models import Actor, ActorType, Change, JobRun, Order, OrderStatus, Project
from common.domain.sla import Breach
from common.ports import OrderQuery
from common.service import stakeholders
from common.service.bootstrap import Deps
from common.service.paging import every
from common.service.retry import CONFLICTED, Conflicted, retry_conflict

log = logging.getLogger("oms.incidents")

ACTOR = Actor(type=ActorType.SYSTEM, id="oms-incidents")
ATTEMPTS = 5  # an update losing to a concurrent one is re-read and applied again this often
SCAN = 5000  # orders read for an allocation run's impact


class IncidentNotFound(LookupError):
    pass


class IncidentConflict(Exception):
    """The incident changed since the caller read it (If-Match): HTTP 412."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(f"incident {incident.incident_id} changed since it was read "
                         f"(ETag {incident.etag} is current)")
        self.incident = incident


# ------------------------------------------------------------------ affected
def event_refs(events: Iterable[Any]) -> list[dict[str, str]]:
    """What names each raw event's order or stream (engineering events: the
    stream key; warehouse events: the order)."""
    out = []
    for raw in events:
        if not isinstance(raw, dict):
            continue
        ref = {k: raw[k] for k in ("event_id", "project_id", "site_code", "order_type", "order_id")
               if isinstance(raw.get(k), str) and raw[k]}
        if ref:
            out.append(ref)
    return out


def _affected(deps: Deps, refs: Sequence[dict[str, str]]) -> tuple[list[Order], set[str]]:
    """The orders the records name (a stream's live orders, or the order
    itself), and every project they name."""
    project_ids = {r["project_id"] for r in refs if r.get("project_id")}
    order_ids = {r["order_id"] for r in refs if r.get("order_id")}
    stream_ids = {f"{r['project_id']}~{r['site_code']}~{r['order_type']}" for r in refs
                  if r.get("project_id") and r.get("site_code") and r.get("order_type")}
    for stream in deps.store.get_streams(sorted(stream_ids)).values():
        order_ids.update(stream.order_ids)
    named = {r["order_id"] for r in refs if r.get("order_id")}  # a stream's closed orders are not touched
    orders = [o for o in deps.store.get_orders(sorted(order_ids)).values()
              if o.order_id in named or o.status not in rules.NO_SLA]
    project_ids.update(o.project_id for o in orders)
    return orders, project_ids


def _projects(deps: Deps, project_ids: Iterable[str]) -> dict[str, Project]:
    ids = sorted(set(project_ids))
    return deps.store.get_projects(ids) if ids else {}


# ------------------------------------------------------------------ raising
def raise_incident(deps: Deps, *, key: str, source: IncidentSource, title: str, summary: str, signal: Signal,
                   orders: Sequence[Order], project_ids: Iterable[str] = (), systems: Sequence[str],
                   records: Iterable[str] = ()) -> Incident | None:
    """Open an incident for `signal`, or add it to the incident of `key` that
    is not resolved; tell the stakeholders. None when it could not be done
    (logged)."""
    try:
        return _raise(deps, key=key, source=source, title=title, summary=summary, signal=signal, orders=orders,
                      project_ids=set(project_ids), systems=systems, records=records)
    except Exception:
        log.exception("could not raise the incident %s for %s %s", key, signal.kind.value, signal.ref)
        return None


def _raise(deps: Deps, *, key: str, source: IncidentSource, title: str, summary: str, signal: Signal,
           orders: Sequence[Order], project_ids: set[str], systems: Sequence[str],
           records: Iterable[str]) -> Incident:
    projects = _projects(deps, {*project_ids, *(o.project_id for o in orders)})
    impact = rules.assess(orders, projects, signal.at, deps.settings.sla_hours, systems=systems,
                          project_ids=project_ids, records=records)
    risk = deps.settings.incident_risk_hours
    change = rules.open_incident(key=key, source=source, title=title, summary=summary, impact=impact,
                                 signal=signal, risk_hours=risk, actor=ACTOR)
    subscriptions = stakeholders.all_subscriptions(deps)
    deliveries = stakeholders.plan(subscriptions, change.incident, MessageKind.NOTICE)
    first = rules.told(change.incident, [d.recipient for d in deliveries])
    stored, created = deps.store.open_incident(first, _noted(change.audit, deliveries))
    if created:
        log.warning("incident %s opened: %s (%s)", stored.incident_id, title, rules_counts(stored))
        _tell_support(deps, stored, "opened")
        stakeholders.send(deps, stored, deliveries)
        return stored

    def attempt() -> Incident | Conflicted:
        nonlocal stored
        again = rules.recur(stored, signal, impact, projects, risk, ACTOR)
        if again is None:
            return stored  # this very signal was counted already
        kind = MessageKind.UPDATE if rules.grew(stored.impact, again.incident.impact) else None
        update = (f"It happened again at {signal.at:%Y-%m-%d %H:%M UTC} ({signal.detail or signal.ref}); "
                  f"{rules_counts(again.incident)}.")
        committed = _commit(deps, stored, again, kind, update)
        if committed is not None:
            return committed
        fresh = deps.store.get_incident(stored.incident_id)
        if fresh is None or fresh.status == rules.IncidentStatus.RESOLVED:
            return _raise(deps, key=key, source=source, title=title, summary=summary, signal=signal, orders=orders,
                          project_ids=project_ids, systems=systems, records=records)
        stored = fresh
        return CONFLICTED

    added = retry_conflict(attempt, what=f"incident {stored.incident_id} occurrence {signal.ref}",
                           attempts=ATTEMPTS)
    if added is CONFLICTED:  # raise_incident logs it and goes on (what raised the signal is not broken)
        raise RuntimeError(f"incident {stored.incident_id} kept changing; occurrence {signal.ref} not added")
    return added


def rules_counts(incident: Incident) -> str:
    impact = incident.impact
    return (f"{impact.order_count} orders, {len(impact.projects)} projects, "
            f"markets {', '.join(impact.market_names) or '-'}")


def _noted(audit: rules.IncidentAudit, deliveries: list[stakeholders.Delivery]) -> rules.IncidentAudit:
    if not deliveries:
        return audit
    told = stakeholders.describe(deliveries)
    return audit.model_copy(update={"changes": [*audit.changes, Change(path="told", new=told)]})


def _commit(deps: Deps, before: Incident, change: IncidentChange, kind: MessageKind | None,
            update: str | None) -> Incident | None:
    """Write `change` (conditional on `before`'s ETag) with who it tells, then
    tell them. None when `before` is stale (nothing written)."""
    deliveries = stakeholders.plan(stakeholders.all_subscriptions(deps), change.incident, kind) if kind else []
    after = rules.told(change.incident, [d.recipient for d in deliveries])
    if not deps.store.update_incident(after, before.etag or "", _noted(change.audit, deliveries)):
        return None
    stakeholders.send(deps, after, deliveries, update)
    return after


def _tell_support(deps: Deps, incident: Incident, what: str) -> None:
    try:
        deps.notifier.notify(f"[OMS] incident {incident.incident_id} {what}: {incident.title}",
                             f"{incident.summary}\n\nImpact: {rules_counts(incident)}\n"
                             f"GET /api/incidents/{incident.incident_id}", level="warning",
                             data={"incident_id": incident.incident_id, "key": incident.key,
                                   "status": incident.status.value})
    except Exception:
        log.exception("could not tell the support team of incident %s", incident.incident_id)


# ------------------------------------------------------------------ signals
JOB_TITLES = {
    "ingest-engineering-events": "Engineering design updates could not be applied",
    "ingest-warehouse-events": "Warehouse updates could not be applied",
    "allocation": "The allocation run failed",
    "sla-sweep": "The SLA sweep failed",
    "outbox-republish": "Order events could not be republished",
    "sweep-held-warehouse-events": "Held warehouse events could not be applied",
}


def on_job_failed(deps: Deps, run: JobRun) -> Incident | None:
    """A failed job run: its affected records, or an allocation run's candidates."""
    try:
        error = run.error or {}
        refs = list(run.details.get("affected_refs") or [])
        known = {r.get("event_id") for r in refs}
        refs += [{"event_id": e} for e in error.get("affected") or [] if isinstance(e, str) and e not in known]
        orders, project_ids = _affected(deps, refs)
        if run.job == "allocation":
            orders = _approved(deps)
            project_ids = {o.project_id for o in orders}
        records = [r["event_id"] for r in refs if r.get("event_id")]
        what = f"{error.get('type')}: {error.get('message')}"
        summary = (f"The {run.job} run {run.job_id} failed at step '{error.get('step')}' ({_clip(what)})."
                   + (f" {len(records)} record(s) could not be applied; they are kept in quarantine for "
                      "reprocessing." if records else ""))
        signal = Signal(kind=IncidentSource.JOB_FAILED, ref=run.job_id, at=run.ended_at or deps.clock.now(),
                        detail=f"{run.job} failed at step '{error.get('step')}'")
    except Exception:
        log.exception("could not assess the failed job run %s", run.job_id)
        return None
    return raise_incident(deps, key=f"job:{run.job}", source=IncidentSource.JOB_FAILED,
                          title=JOB_TITLES.get(run.job, f"The {run.job} job failed"), summary=summary,
                          signal=signal, orders=orders, project_ids=project_ids,
                          systems=rules.systems_of_job(run.job), records=records)


def _approved(deps: Deps) -> list[Order]:
    """The Approved orders, the first SCAN of them (no page read past those)."""
    return list(islice(every(lambda token: deps.store.query_orders(OrderQuery(
        status=OrderStatus.APPROVED.value, limit=1000, continuation=token))), SCAN))


def _clip(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def on_dead_letter(deps: Deps, document: dict[str, Any], container: str) -> Incident | None:
    """A batch dead-lettered because the store was down (it may still be:
    then this fails, logged, and the dead letter itself is what is kept)."""
    try:
        events = [e.get("json") for e in document.get("events", []) if isinstance(e, dict)]
        refs = event_refs(events)
        orders, project_ids = _affected(deps, refs)
        source = str(document.get("source"))
        error = document.get("error") or {}
        summary = (f"A batch of {document.get('count')} {source} events could not be stored nor quarantined "
                   f"({_clip(str(error.get('type')) + ': ' + str(error.get('message')))}). It is kept at "
                   f"{container}/{document.get('name')} and is applied once replayed.")
        signal = Signal(kind=IncidentSource.DEAD_LETTER, ref=str(document.get("name")),
                        at=datetime.fromisoformat(str(document["dead_lettered_at"])),
                        detail=f"{document.get('count')} {source} events dead-lettered")
    except Exception:
        log.exception("could not assess dead letter %s", document.get("name"))
        return None
    return raise_incident(deps, key=f"dead-letter:{source}", source=IncidentSource.DEAD_LETTER,
                          title=f"Inbound {source} are held back", summary=summary, signal=signal, orders=orders,
                          project_ids=project_ids, systems=rules.systems_of_source(source),
                          records=[r["event_id"] for r in refs if r.get("event_id")])


CATCH_UP = 100  # waiting dead letters looked at per sweep


def catch_up_dead_letters(deps: Deps) -> list[Incident]:
    """Dead letters still waiting that no incident names: a batch is
    dead-lettered when the store is down, so its incident usually could not
    be written then. The sweep, once the store is back, opens (or adds to)
    the incident of each; one named by an incident already, even a resolved
    one, is not raised again."""
    from common.service.deadletters import list_dead_letters  # it imports this module

    container = deps.settings.deadletter_container
    raised: list[Incident] = []
    try:
        letters = list_dead_letters(deps)[:CATCH_UP]
        if not letters:
            return raised
        known = {s.ref for i in deps.store.list_incidents(limit=1000).items for s in i.signals
                 if s.kind == IncidentSource.DEAD_LETTER}
        for letter in letters:
            if letter.name not in known:
                found = on_dead_letter(deps, json.loads(deps.blobs.read(container, letter.name)), container)
                raised += [found] if found is not None else []
    except Exception:  # the sweep goes on; the next one tries again
        log.exception("could not look for dead letters without an incident")
    return raised


def wave_threshold(deps: Deps, market: str) -> int:
    waves = deps.settings.incident_sla_wave
    return int(waves.get(market, waves.get("*", 0)))


def on_sla_breaches(deps: Deps, breaches: Sequence[Breach], job_id: str) -> list[Incident]:
    """New breaches of one sweep, per market: a market reaching its threshold
    opens (or adds to) its SLA-wave incident."""
    try:
        orders = deps.store.get_orders(sorted({b.order_id for b in breaches}))
        projects = _projects(deps, {o.project_id for o in orders.values()})
        by_market: dict[str, list[Order]] = {}
        for order in orders.values():
            project = projects.get(order.project_id)
            market = (project.market if project is not None else None) or order.market or "(no market)"
            by_market.setdefault(market, []).append(order)
        now = deps.clock.now()
    except Exception:
        log.exception("could not assess the SLA breaches of sweep %s", job_id)
        return []
    opened = []
    for market, affected in sorted(by_market.items()):
        threshold = wave_threshold(deps, market)
        if threshold <= 0 or len(affected) < threshold:
            continue
        summary = (f"{len(affected)} orders in {market} breached an SLA in one sweep (threshold {threshold}): "
                   "orders are waiting longer than their state allows or material is late on site.")
        signal = Signal(kind=IncidentSource.SLA_WAVE, ref=f"{job_id}:{market}", at=now,
                        detail=f"{len(affected)} new SLA breaches in {market}")
        found = raise_incident(deps, key=f"sla-wave:{market}", source=IncidentSource.SLA_WAVE,
                               title=f"SLA breach wave in {market}", summary=summary, signal=signal, orders=affected,
                               systems=[rules.ORDER_EVENTS], records=[])
        if found is not None:
            opened.append(found)
    return opened


def on_held_releases(deps: Deps, streams: Sequence[tuple[str, str]], job_id: str) -> list[Incident]:
    """Released orders put on an engineering hold by the events of a batch:
    `streams` is (stream id, event id) of each feasibility event that held
    some; one incident per project."""
    try:
        event_of = dict(streams)
        held: dict[str, list[Order]] = {}
        for stream in deps.store.get_streams(sorted(event_of)).values():
            for order in deps.store.get_orders(stream.order_ids).values():
                hold = order.engineering_hold
                if hold is not None and hold.event_id == event_of.get(stream.stream_id):
                    held.setdefault(order.project_id, []).append(order)
        now = deps.clock.now()
    except Exception:
        log.exception("could not assess the held releases of %s", job_id)
        return []
    opened = []
    for project_id, orders in sorted(held.items()):
        checks = sorted({c for o in orders for c in (o.engineering_hold.failed_checks if o.engineering_hold else [])})
        summary = (f"Material for {len(orders)} released order(s) of project {project_id} is on its way to a site "
                   "engineering now finds not feasible" + (f" (failed checks: {', '.join(checks)})" if checks else "")
                   + ". The release is held until a feasible update clears it.")
        signal = Signal(kind=IncidentSource.HELD_RELEASE, ref=f"{job_id}:{project_id}", at=now,
                        detail=f"{len(orders)} released order(s) held")
        found = raise_incident(deps, key=f"held-release:{project_id}", source=IncidentSource.HELD_RELEASE,
                               title=f"Release held: site of project {project_id} not feasible", summary=summary,
                               signal=signal, orders=orders,
                               systems=[rules.WAREHOUSE, rules.ENGINEERING, rules.ORDER_EVENTS])
        if found is not None:
            opened.append(found)
    return opened


# ------------------------------------------------------------------ operators
def get(deps: Deps, incident_id: str) -> Incident:
    incident = deps.store.get_incident(incident_id)
    if incident is None:
        raise IncidentNotFound(f"incident {incident_id} not found")
    return incident


def _normalize(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def change(deps: Deps, incident_id: str, action: str, *, actor: Actor, if_match: str | None = None,
           note: str | None = None, root_cause: str | None = None, resolution: str | None = None,
           eta: datetime | None = None, correlation_id: str | None = None) -> Incident:
    """acknowledge / mitigate / resolve / update an incident as an operator.
    With `if_match`, against that version only (IncidentConflict when it is
    not current); without, against the current one. The audit entry and who
    is told are written with it; stakeholders hear after."""

    def attempt() -> Incident | Conflicted:
        incident = get(deps, incident_id)
        if if_match is not None:
            tags = {_normalize(t) for t in if_match.split(",")}
            if "*" not in tags and incident.etag not in tags:
                raise IncidentConflict(incident)
        at = deps.clock.now()
        if action == "update":
            moved = rules.annotate(incident, note, actor=actor, at=at, eta=eta, correlation_id=correlation_id)
            words = note
        else:
            moved = rules.move(incident, action, actor=actor, at=at, note=note, root_cause=root_cause,
                               resolution=resolution, eta=eta, correlation_id=correlation_id)
            words = _words(action, moved.incident, actor, note)
        kind = MessageKind.SUMMARY if action == "resolve" else MessageKind.UPDATE
        done = _commit(deps, incident, moved, kind, words)
        if done is not None:
            log.info("incident %s %s by %s", incident_id, moved.audit.action, actor.id)
            if action == "resolve":
                _tell_support(deps, done, "resolved")
            return done
        if if_match is not None:  # changed between the check and the write
            raise IncidentConflict(get(deps, incident_id))
        return CONFLICTED

    changed = retry_conflict(attempt, what=f"incident {incident_id} {action}", attempts=ATTEMPTS)
    if changed is CONFLICTED:
        raise RuntimeError(f"incident {incident_id} kept changing; try again")
    return changed


def _words(action: str, incident: Incident, actor: Actor, note: str | None) -> str:
    said = {"acknowledge": f"Operations ({actor.id}) acknowledged the incident and are working on it.",
            "mitigate": f"Operations ({actor.id}) mitigated the impact.",
            "resolve": f"Operations ({actor.id}) resolved the incident."}[action]
    if note:
        said += f" {note}"
    if incident.eta and action != "resolve":
        said += f" Expected resolution: {incident.eta:%Y-%m-%d %H:%M UTC}."
    return said


__all__ = ["IncidentConflict", "IncidentNotFound", "catch_up_dead_letters", "change", "event_refs", "get",
           "on_dead_letter",
           "on_held_releases", "on_job_failed", "on_sla_breaches", "raise_incident"]
