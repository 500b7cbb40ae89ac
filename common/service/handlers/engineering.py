"""Engineering events in: validate, deduplicate, decide by the delta rules,
and commit each batch in one go (DESIGN.md section 3 and section 9).

Nothing an event brings is lost: it is applied, skipped with a counted
reason, parked, or quarantined with every reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common.domain.delta import Decision, Outcome, decide, reevaluate_parked
from common.domain.ids import marker_id
from common.domain.inbound import EngineeringEvent, check_engineering_event
from common.domain.models import SYSTEM, Actor, Marker, Project, Reason, StreamKey
from common.domain.validation import raw_reference_reasons, reference_reasons
from common.service.bootstrap import Deps
from common.service.commands import (
    ENGINEERING_SOURCE,
    IngestEngineeringEvents,
    ReevaluateParkedDesigns,
)
from common.service.faults import PoisonEvent, guard, mark_kept
from common.service.handlers.batch import EventBatch, EventResult, IngestReport, in_job
from common.service.incidents import on_held_releases
from common.service.jobs import JobRecorder
from common.service.retry import retry_conflicts
from common.service.unit_of_work import UnitOfWork

log = logging.getLogger("oms.engineering")

class _Batch(EventBatch):
    """One batch of engineering events on its way through the rules."""

    source = ENGINEERING_SOURCE

    def __init__(self, deps: Deps, cmd: IngestEngineeringEvents, recorder: JobRecorder) -> None:
        super().__init__(deps, cmd.events, recorder)
        self.cmd = cmd
        self.invalid: list[tuple[int, dict[str, Any], list[Reason]]] = []
        self.alerts: list[str] = []
        self.held: list[tuple[str, str]] = []  # (stream id, event id) of feasibility events that held releases

    # ---------------------------------------------------------------- steps
    def validate(self) -> list[tuple[int, EngineeringEvent]]:
        valid: list[tuple[int, EngineeringEvent]] = []
        for index, raw, event, reasons in self.checked(check_engineering_event):
            if event is not None:
                valid.append((index, event))
            elif isinstance(raw, dict):  # quarantined with its reference problems too
                self.invalid.append((index, raw, reasons))
            else:
                self.reject(index, raw, reasons)
        return valid

    def check_references(self, events: list[tuple[int, EngineeringEvent]]) -> list[tuple[int, EngineeringEvent]]:
        self.recorder.step = "check references"
        store = self.deps.store
        project_ids = {e.project_id for _, e in events}
        project_ids.update(p for _, raw, _ in self.invalid if isinstance(p := raw.get("project_id"), str))
        skus = {i.sku for _, e in events for i in (e.items or [])}
        skus.update(item["sku"] for _, raw, _ in self.invalid if isinstance(raw.get("items"), list)
                    for item in raw["items"] if isinstance(item, dict) and isinstance(item.get("sku"), str))
        self.projects: dict[str, Project] = store.get_projects(list(project_ids)) if project_ids else {}
        catalog = store.get_catalog(list(skus)) if skus else {}
        for index, raw, reasons in self.invalid:
            more = raw_reference_reasons(raw, reasons, self.projects, catalog)
            project_id = raw.get("project_id")
            self.reject(index, raw, [*reasons, *more], project_id=project_id if isinstance(project_id, str) else None)
        self.invalid.clear()
        order_types = self.deps.settings.order_types
        good = []
        for index, event in events:
            reasons = reference_reasons(event, self.projects, catalog, order_types)
            if reasons:
                self.reject(index, self.cmd.events[index], reasons, project_id=event.project_id)
            else:
                good.append((index, event))
        return good

    def apply(self, events: list[tuple[int, EngineeringEvent]]) -> None:
        """Decide and commit; partitions that lose to a concurrent writer are
        re-read and decided again (common.service.retry); what still loses
        after the last attempt is quarantined for reprocessing."""
        left = retry_conflicts(events, self._attempt, what="engineering events")
        for index, event in left:
            self.reject(index, self.cmd.events[index], [Reason(
                loc=[], msg="the stream kept changing under concurrent writers; reprocess to apply",
                type="conflict")], project_id=event.project_id)

    def _attempt(self, pending: Sequence[tuple[int, EngineeringEvent]]) -> list[tuple[int, EngineeringEvent]]:
        """One attempt: decide in a fresh unit of work and commit; returns the
        events whose partition lost. An event whose decision raises a poison
        error is quarantined and the rest decided again without it."""
        pending = list(pending)
        while True:
            self.recorder.step = "apply"
            uow = UnitOfWork(self.deps.store, self.deps.inventory)
            try:
                decided = self._decide(uow, pending)
                break
            except PoisonEvent as poison:
                # Nothing of this unit of work is written: decide the rest again without it.
                self.poison(poison.index, poison.error, project_id=self.cmd.events[poison.index].get("project_id"))
                pending = [(i, e) for i, e in pending if i != poison.index]
        self.recorder.step = "commit"
        result = uow.commit()
        retry = []
        for index, event, outcome, alerts in decided:
            if event.project_id in result.conflicts:
                retry.append((index, event))
            else:
                self.settle(index, outcome)
                self.alerts.extend(alerts)
                if alerts:
                    self.held.append((_key(event).id, event.event_id))
        return retry

    def _decide(self, uow: UnitOfWork, events: list[tuple[int, EngineeringEvent]]
                ) -> list[tuple[int, EngineeringEvent, EventResult, list[str]]]:
        store, now = self.deps.store, self.deps.clock.now()
        seen = store.existing_markers([(e.project_id, marker_id(ENGINEERING_SOURCE, e.event_id)) for _, e in events])
        keys = [_key(e) for _, e in events]
        uow.load_streams(keys)
        in_batch: set[str] = set()
        out: list[tuple[int, EngineeringEvent, EventResult, list[str]]] = []
        policy, keep_manual = self.deps.policy, self.deps.settings.keep_manual_lines
        for (index, event), key in zip(events, keys, strict=True):
            mid = marker_id(ENGINEERING_SOURCE, event.event_id)
            if mid in seen or mid in in_batch:
                out.append((index, event, EventResult(event.event_id, Outcome.SKIPPED_DUPLICATE,
                                                      reasons=["event was processed already"]), []))
                continue
            in_batch.add(mid)
            state = uow.stream_state(key)
            try:
                decision: Decision = decide(state, event, self.projects[event.project_id], policy, now,
                                            self.cmd.actor, keep_manual)
            except Exception as error:
                raise guard(index, error) from error
            uow.add_decision(decision)
            # Stale and unchanged events get their marker too: a replay is a duplicate.
            uow.add_marker(Marker(marker_id=mid, project_id=event.project_id, source=ENGINEERING_SOURCE,
                                  event_id=event.event_id, outcome=decision.outcome.value, at=now))
            out.append((index, event, EventResult(event.event_id, decision.outcome, decision.order_id,
                                                  decision.reasons), decision.alerts))
        return out


def _key(event: EngineeringEvent) -> StreamKey:
    return StreamKey(project_id=event.project_id, site_code=event.site_code, order_type=event.order_type)


def ingest_engineering_events(deps: Deps, cmd: IngestEngineeringEvents,
                              recorder: JobRecorder | None = None) -> IngestReport:
    """One batch. Given a `recorder`, the batch is counted in that job run
    (a file of many batches is one job); otherwise it is a job run of its own."""
    return in_job(deps, "ingest-engineering-events", cmd.channel, cmd.file_name, recorder,
                  lambda job: _ingest(deps, cmd, job))


def _ingest(deps: Deps, cmd: IngestEngineeringEvents, recorder: JobRecorder) -> IngestReport:
    batch = _Batch(deps, cmd, recorder)
    recorder.count("received", len(cmd.events))
    valid = batch.validate()
    good = batch.check_references(valid) if valid or batch.invalid else []
    try:
        batch.apply(good)
    except Exception as error:  # the store is down beyond its retries: keep every event
        log.exception("could not store engineering events")
        projects = {index: event.project_id for index, event in good}
        batch.keep_unsettled(error, lambda index: {"project_id": projects.get(index)})
        mark_kept(error)
        raise
    if batch.alerts:
        recorder.count("engineering_holds", len(batch.alerts))
        deps.notifier.notify(f"[OMS] engineering: {len(batch.alerts)} released order(s) on a site not feasible",
                             "\n".join(batch.alerts), level="warning",
                             data={"job_id": recorder.run.job_id, "alerts": batch.alerts})
        on_held_releases(deps, batch.held, recorder.run.job_id)  # an incident per project, for stakeholders
    return batch.report()


@dataclass
class ParkedReport:
    """Parked designs applied, and the projects still conflicting after the
    last attempt (their designs stay parked for the next master load or a
    reprocess; logged, never silent)."""

    results: list[EventResult]
    conflicted: list[str]


def reevaluate_parked_designs(deps: Deps, cmd: ReevaluateParkedDesigns, actor: Actor | None = None) -> ParkedReport:
    """Apply the parked designs of `cmd.project_ids` whose projects qualify now."""
    actor = actor or SYSTEM
    results: list[EventResult] = []
    projects = {p: project for p, project in deps.store.get_projects(list(cmd.project_ids)).items()
                if deps.policy.qualifies(project)}
    # One bulk read finds the few projects that hold parked designs at all.
    holding = sorted({s.project_id for s in deps.store.parked_streams(list(projects))})

    def attempt(pending: Sequence[str]) -> list[str]:
        uow = UnitOfWork(deps.store, deps.inventory)
        decided: dict[str, list[EventResult]] = {}
        for project_id in pending:
            for state in uow.adopt_streams(deps.store.parked_streams([project_id])):
                decision = reevaluate_parked(state, projects[project_id], deps.policy, deps.clock.now(), actor,
                                             deps.settings.keep_manual_lines)
                if decision is not None:
                    uow.add_decision(decision)
                    decided.setdefault(project_id, []).append(EventResult(
                        state.stream.design_event_id, decision.outcome, decision.order_id, decision.reasons))
        conflicts = uow.commit().conflicts
        for project_id, done in decided.items():
            if project_id not in conflicts:
                results.extend(done)
        return [p for p in pending if p in conflicts]

    conflicted = retry_conflicts(holding, attempt, what="parked designs")
    return ParkedReport(results, conflicted)
