"""Engineering events in: validate, deduplicate, decide by the delta rules,
and commit each batch in one go (DESIGN.md section 3 and section 9).

Nothing an event brings is lost: it is applied, skipped with a counted
reason, parked, or quarantined with every reason.
"""

from __future__ import annotations

import logging
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
from common.service.jobs import JobRecorder
from common.service.unit_of_work import UnitOfWork

log = logging.getLogger("oms.engineering")

MAX_ATTEMPTS = 4  # re-reads after a concurrent writer won a partition


class _Batch(EventBatch):
    """One batch of engineering events on its way through the rules."""

    source = ENGINEERING_SOURCE

    def __init__(self, deps: Deps, cmd: IngestEngineeringEvents, recorder: JobRecorder) -> None:
        super().__init__(deps, cmd.events, recorder)
        self.cmd = cmd
        self.invalid: list[tuple[int, dict[str, Any], list[Reason]]] = []

    # ---------------------------------------------------------------- steps
    def validate(self) -> list[tuple[int, EngineeringEvent]]:
        self.recorder.step = "validate"
        valid: list[tuple[int, EngineeringEvent]] = []
        for index, raw in enumerate(self.cmd.events):
            if self.reject_undecodable(index, raw):
                continue
            try:
                event, reasons = check_engineering_event(raw)
            except Exception as error:  # one input no check foresaw: it alone is quarantined
                self.poison(index, error)
                continue
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
        re-read and decided again."""
        pending = events
        attempt = 0
        while attempt < MAX_ATTEMPTS:
            if not pending:
                return
            self.recorder.step = "apply"
            uow = UnitOfWork(self.deps.store)
            try:
                decided = self._decide(uow, pending)
            except PoisonEvent as poison:
                # Nothing of this unit of work is written: decide the rest again without it.
                self.poison(poison.index, poison.error, project_id=self.cmd.events[poison.index].get("project_id"))
                pending = [(i, e) for i, e in pending if i != poison.index]
                continue
            attempt += 1
            self.recorder.step = "commit"
            result = uow.commit()
            retry = []
            for index, event, outcome in decided:
                if event.project_id in result.conflicts:
                    retry.append((index, event))
                else:
                    self.settle(index, outcome)
            self._after_commit(uow)
            pending = retry
        for index, event in pending:
            self.reject(index, self.cmd.events[index], [Reason(
                loc=[], msg="the stream kept changing under concurrent writers; reprocess to apply",
                type="conflict")], project_id=event.project_id)

    def _decide(self, uow: UnitOfWork,
                events: list[tuple[int, EngineeringEvent]]) -> list[tuple[int, EngineeringEvent, EventResult]]:
        store, now = self.deps.store, self.deps.clock.now()
        seen = store.existing_markers([(e.project_id, marker_id(ENGINEERING_SOURCE, e.event_id)) for _, e in events])
        keys = [_key(e) for _, e in events]
        uow.load_streams(keys)
        in_batch: set[str] = set()
        out = []
        policy = self.deps.policy
        for (index, event), key in zip(events, keys, strict=True):
            mid = marker_id(ENGINEERING_SOURCE, event.event_id)
            if mid in seen or mid in in_batch:
                out.append((index, event, EventResult(event.event_id, Outcome.SKIPPED_DUPLICATE,
                                                      reasons=["event was processed already"])))
                continue
            in_batch.add(mid)
            state = uow.stream_state(key)
            try:
                decision: Decision = decide(state, event, self.projects[event.project_id], policy, now,
                                            self.cmd.actor)
            except Exception as error:
                raise guard(index, error) from error
            uow.add_decision(decision)
            # Stale and unchanged events get their marker too: a replay is a duplicate.
            uow.add_marker(Marker(marker_id=mid, project_id=event.project_id, source=ENGINEERING_SOURCE,
                                  event_id=event.event_id, outcome=decision.outcome.value, at=now))
            out.append((index, event, EventResult(event.event_id, decision.outcome, decision.order_id,
                                                  decision.reasons)))
        return out

    def _after_commit(self, uow: UnitOfWork) -> None:
        # A revised Allocated order gives its reservation back. This runs after
        # the order is Draft: a crash in between leaves a reservation of a
        # non-Allocated order, which the next allocation run gives back.
        for order_id in uow.released_reservations:
            self.deps.inventory.release_reservation(order_id)


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
    return batch.report()


def reevaluate_parked_designs(deps: Deps, cmd: ReevaluateParkedDesigns,
                              actor: Actor | None = None) -> list[EventResult]:
    """Apply the parked designs of `cmd.project_ids` whose projects qualify now."""
    actor = actor or SYSTEM
    results: list[EventResult] = []
    projects = {p: project for p, project in deps.store.get_projects(list(cmd.project_ids)).items()
                if deps.policy.qualifies(project)}
    # One bulk read finds the few projects that hold parked designs at all.
    holding = sorted({s.project_id for s in deps.store.parked_streams(list(projects))})
    for project_id in holding:
        project = projects[project_id]
        for _attempt in range(MAX_ATTEMPTS):
            uow = UnitOfWork(deps.store)
            states = uow.adopt_streams(deps.store.parked_streams([project_id]))
            batch: list[EventResult] = []
            for state in states:
                decision = reevaluate_parked(state, project, deps.policy, deps.clock.now(), actor)
                if decision is not None:
                    uow.add_decision(decision)
                    batch.append(EventResult(state.stream.design_event_id, decision.outcome,
                                             decision.order_id, decision.reasons))
            if uow.commit().ok:
                results.extend(batch)
                break
    return results
