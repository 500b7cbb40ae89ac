"""What every inbound event batch shares (engineering events, warehouse
events): one result per event, counted in the job run by outcome, and bad
input quarantined with every reason under the batch's source."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from common.domain.delta import COUNT_OF, Outcome
from common.domain.ids import project_of
from common.domain.models import JobRun, Reason
from common.service.bootstrap import Deps
from common.service.commands import Undecodable
from common.service.decoding import NOT_JSON, NOT_UTF8
from common.service.incidents import event_refs
from common.service.jobs import JobRecorder, job_run
from common.service.quarantine import quarantine

log = logging.getLogger("oms.intake")

E = TypeVar("E")


@dataclass
class EventResult:
    event_id: str | None
    outcome: Outcome
    order_id: str | None = None
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "outcome": self.outcome.value, "order_id": self.order_id,
                "reasons": self.reasons}


@dataclass
class IngestReport:
    job: JobRun
    results: list[EventResult]

    @property
    def counts(self) -> dict[str, int]:
        return self.job.counts


def event_id_of(raw: Any) -> str | None:
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and value else None


def messages(reasons: list[Reason]) -> list[str]:
    return [f"{'.'.join(map(str, r.loc)) or '(event)'}: {r.msg}" for r in reasons]


class EventBatch:
    """One batch of raw events from `source` and the result of each."""

    source: ClassVar[str]

    def __init__(self, deps: Deps, events: Sequence[Any], recorder: JobRecorder) -> None:
        self.deps = deps
        self.events = events
        self.recorder = recorder
        self.results: list[EventResult | None] = [None] * len(events)

    def settle(self, index: int, result: EventResult) -> None:
        self.results[index] = result
        self.recorder.count(COUNT_OF[result.outcome])
        if result.outcome.value.startswith("skipped_"):
            self.recorder.count(result.outcome.value)

    def reject(self, index: int, raw: Any, reasons: list[Reason], *, project_id: str | None = None,
               order_id: str | None = None) -> None:
        """Quarantine the event as it came, with every reason."""
        event_id = event_id_of(raw)
        payload = raw.text if isinstance(raw, Undecodable) else raw
        quarantine(self.deps, source=self.source, payload=payload, reasons=reasons,
                   job_id=self.recorder.run.job_id, event_id=event_id, order_id=order_id,
                   project_id=project_id or (project_of(order_id) if order_id else None))
        self.settle(index, EventResult(event_id, Outcome.QUARANTINED, order_id, reasons=messages(reasons)))

    def poison(self, index: int, error: BaseException, **where: str | None) -> None:
        """Quarantine one event whose decision raised an error that is not the
        infrastructure's, with that error as its reason (common.service.faults)."""
        log.error("event %s of a %s batch could not be decided", index, self.source,
                  exc_info=(type(error), error, error.__traceback__))
        self.reject(index, self.events[index], [Reason(
            loc=[], msg=f"could not be decided: {type(error).__name__}: {error}", type="processing_error")], **where)

    def reject_undecodable(self, index: int, raw: Any) -> bool:
        """Quarantine a body that is not JSON, or that the bounded decoder
        refused (common.service.decoding); says whether it was one."""
        if not isinstance(raw, Undecodable):
            return False
        what = "body is not JSON" if raw.kind in (NOT_JSON, NOT_UTF8) else "body refused"
        self.reject(index, raw, [Reason(loc=[], msg=f"{what}: {raw.error}", type=raw.kind)])
        return True

    def checked(self, check: Callable[[Any], tuple[E | None, list[Reason]]]
                ) -> Iterator[tuple[int, Any, E | None, list[Reason]]]:
        """Each event of the batch with what `check` makes of it (the event, or
        None and every reason), the validate step of every batch. A body that
        is not JSON is quarantined here, and so is one that breaks `check`: one
        input no check foresaw, quarantined alone."""
        self.recorder.step = "validate"
        for index, raw in enumerate(self.events):
            if self.reject_undecodable(index, raw):
                continue
            try:
                event, reasons = check(raw)
            except Exception as error:
                self.poison(index, error)
                continue
            yield index, raw, event, reasons

    def keep_unsettled(self, error: Exception, where: Callable[[int], dict[str, str | None]]) -> None:
        """The store failed beyond its retries: every event not settled yet goes
        to quarantine (`store_unavailable`) so that nothing is lost, and the job
        run lists them as affected. `where(index)` names the event's project or
        order for its quarantine record."""
        unsettled = [i for i, result in enumerate(self.results) if result is None]
        self.recorder.details.setdefault("affected", []).extend(event_id_of(self.events[i]) for i in unsettled)
        # What names each one's stream or order: the incident's impact (common/service/incidents.py).
        self.recorder.details.setdefault("affected_refs", []).extend(event_refs(self.events[i] for i in unsettled))
        reason = Reason(loc=[], msg=f"could not be stored: {type(error).__name__}: {error}", type="store_unavailable")
        for index in unsettled:
            self.reject(index, self.events[index], [reason], **where(index))
        self.recorder.count("failed", len(unsettled))

    def report(self) -> IngestReport:
        return IngestReport(job=self.recorder.run, results=[r for r in self.results if r is not None])


def in_job(deps: Deps, job: str, channel: str, file_name: str | None, recorder: JobRecorder | None,
           body: Callable[[JobRecorder], IngestReport]) -> IngestReport:
    """Run one batch in the given job run (a file of many batches is one job),
    or in a job run of its own."""
    if recorder is not None:
        return body(recorder)
    source = channel if file_name is None else f"{channel}:{file_name}"
    with job_run(deps, job, source) as own:
        report = body(own)
    report.job = own.run
    return report
