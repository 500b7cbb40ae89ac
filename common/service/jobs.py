"""Job runs: every batch, file, allocation run and sweep is one, with start,
end, status, counts and error context, and each start, end or failure is
told to the notifier."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from common.domain.models import JobRun
from common.service.bootstrap import Deps
from common.telemetry import correlate

log = logging.getLogger("oms.jobs")

BASE_COUNTS = ("created", "modified", "skipped", "parked", "quarantined", "failed")


def new_job_id(job: str) -> str:
    return f"{job}-{uuid.uuid4().hex[:12]}"


# A running run writes a sign of life at most this often, as it counts or
# moves to its next step; the sweep calls a run without one for
# OMS_JOB_ABANDON_MINUTES abandoned.
HEARTBEAT_SECONDS = 60.0


class Resumable(RuntimeError):
    """A run that stopped where it planned to (its time budget ran out) with
    its progress kept: the next attempt goes on from there. It is recorded
    `incomplete` and told as a warning, not as a failure: a first load of a
    million rows on Azure takes two or three function runs by design, and
    each stop is not an incident."""


class JobRecorder:
    def __init__(self, deps: Deps, job: str, source: str | None, job_id: str | None = None) -> None:
        self.deps = deps
        self.counts: Counter[str] = Counter(dict.fromkeys(BASE_COUNTS, 0))
        self._step = "start"
        self._beat = time.monotonic()
        self.rejected = False
        self.details: dict[str, Any] = {}
        self.run = JobRun(job_id=job_id or new_job_id(job), job=job, source=source,
                          started_at=deps.clock.now())

    @property
    def step(self) -> str:
        return self._step

    @step.setter
    def step(self, value: str) -> None:
        self._step = value
        self.beat()

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n
        self.beat()

    def beat(self) -> None:
        """Tell the store the run is alive (throttled; never fails the run)."""
        if time.monotonic() - self._beat < HEARTBEAT_SECONDS or self.run.status != "running":
            return
        self._beat = time.monotonic()
        self.run = self.run.model_copy(update={"heartbeat_at": self.deps.clock.now(), "counts": dict(self.counts)})
        try:
            self.deps.store.put_job(self.run)
        except Exception:
            log.warning("could not record the heartbeat of job run %s", self.run.job_id, exc_info=True)

    def _summary(self) -> str:
        shown = ", ".join(f"{k} {v}" for k, v in _ordered(self.counts) if v or k in BASE_COUNTS)
        return f"{self.run.job} {self.run.status}: {shown}"

    def start(self) -> None:
        """Record the run and tell people it started. A run that cannot even
        be recorded (the store is down) still tells them it failed, and why,
        before the error goes on to the caller: log always, mail and webhook
        when they are set up."""
        try:
            self.deps.store.put_job(self.run)
        except Exception as error:
            self.step = "start"
            self.run = self.run.model_copy(update={"ended_at": self.deps.clock.now(), "status": "failed",
                                                   "error": self._error(error, self.deps.clock.now())})
            log.error("job %s (%s) could not start: %s: %s", self.run.job, self.run.job_id, type(error).__name__,
                      error)
            self._tell_failure()
            raise
        self.deps.notifier.notify(f"[OMS] {self.run.job} started", start_message(self.run),
                                  data={"job_id": self.run.job_id, "job": self.run.job, "source": self.run.source,
                                        "started_at": self.run.started_at.isoformat()})

    def reject(self) -> None:
        """The input was refused whole: the run ends `rejected`, not `succeeded`."""
        self.rejected = True

    def _error(self, error: BaseException, at: Any) -> dict[str, Any]:
        return {"step": self.step, "type": type(error).__name__, "message": str(error),
                "started_at": self.run.started_at.isoformat(), "failed_at": at.isoformat(),
                "affected": self.details.get("affected", [])}

    def _tell_failure(self) -> None:
        error = self.run.error or {}
        subject = (f"[OMS] FAILED {self.run.job} at step '{error.get('step')}': "
                   f"{error.get('type')}: {_clip(str(error.get('message')), 80)}")
        self.deps.notifier.notify(subject, end_message(self.run), level="error", data=self.run.model_dump(mode="json"))

    def finish(self, error: BaseException | None = None) -> JobRun:
        ended = self.deps.clock.now()
        resumable = isinstance(error, Resumable)
        status = ("incomplete" if resumable else "failed" if error is not None
                  else "rejected" if self.rejected else "succeeded")
        update: dict[str, Any] = {"ended_at": ended, "counts": dict(self.counts), "details": self.details,
                                  "status": status}
        if error is not None:
            update["error"] = self._error(error, ended)
        self.run = self.run.model_copy(update=update)
        try:
            self.deps.store.put_job(self.run)
        except Exception:  # the store may be what failed; the notifier still tells people
            log.exception("could not record job run %s", self.run.job_id)
        if resumable:
            self.deps.notifier.notify(f"[OMS] {self._summary()}; the next attempt resumes: {_clip(str(error), 120)}",
                                      end_message(self.run), level="warning", data=self.run.model_dump(mode="json"))
            return self.run
        if error is not None:
            self._tell_failure()
            open_incident_for(self.deps, self.run)
            return self.run
        self.deps.notifier.notify(f"[OMS] {self._summary()}", end_message(self.run),
                                  level="warning" if self.rejected else "info", data=self.run.model_dump(mode="json"))
        return self.run


AFFECTED_SHOWN = 50  # a mail lists this many affected records; the data holds them all


def open_incident_for(deps: Deps, run: JobRun) -> None:
    """A failed run opens an incident for stakeholders, or adds to the open
    one of its job (common/service/incidents.py); never raises."""
    from common.service.incidents import on_job_failed  # imports handlers' modules: not at import time

    try:
        on_job_failed(deps, run)
    except Exception:
        log.exception("could not open an incident for job run %s", run.job_id)


def _ordered(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """The base counts first, in their usual order, then the rest by name."""
    rest = sorted(k for k in counts if k not in BASE_COUNTS)
    return [(k, counts.get(k, 0)) for k in (*BASE_COUNTS, *rest)]


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _duration(run: JobRun) -> str:
    if run.ended_at is None:
        return "-"
    seconds = (run.ended_at - run.started_at).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def start_message(run: JobRun) -> str:
    return "\n".join([f"Job:      {run.job}", f"Run id:   {run.job_id}", f"Source:   {run.source or '-'}",
                       f"Started:  {run.started_at.isoformat()}"])


def end_message(run: JobRun) -> str:
    """A body people can read: what ran, how it ended, its counts and, on
    failure, the failing step, the error and the records it could not apply."""
    lines = [f"Job:      {run.job}", f"Run id:   {run.job_id}", f"Source:   {run.source or '-'}",
             f"Status:   {run.status}", f"Started:  {run.started_at.isoformat()}",
             f"Ended:    {run.ended_at.isoformat() if run.ended_at else '-'}", f"Duration: {_duration(run)}"]
    if run.error:
        affected = list(run.error.get("affected") or [])
        lines += ["", f"Failing step: {run.error.get('step')}",
                  f"Error:        {run.error.get('type')}: {run.error.get('message')}",
                  f"Affected records ({len(affected)}):"]
        lines += [f"  - {item}" for item in affected[:AFFECTED_SHOWN]]
        if len(affected) > AFFECTED_SHOWN:
            lines.append(f"  ... and {len(affected) - AFFECTED_SHOWN} more (see the job run's data)")
        if not affected:
            lines.append("  (none recorded)")
        if run.counts.get("quarantined"):
            lines.append("What could not be applied is in quarantine: GET /api/quarantine, then reprocess.")
    lines += ["", "Counts:"]
    lines += [f"  {name:<20} {value:>8}" for name, value in _ordered(run.counts) if value or name in BASE_COUNTS]
    return "\n".join(lines)


def abandon_dead_jobs(deps: Deps, *, scan: int = 1000) -> list[JobRun]:
    """Job runs still `running` whose process stopped (killed, timed out,
    the machine gone): no heartbeat for OMS_JOB_ABANDON_MINUTES. Each is
    marked `abandoned` with what is known, and people are told (as for a
    failure: mail, webhook, an incident)."""
    now = deps.clock.now()
    limit = timedelta(minutes=deps.settings.job_abandon_minutes)
    abandoned = []
    for run in deps.store.running_jobs(scan):
        last = run.heartbeat_at or run.started_at
        if now - last <= limit:
            continue
        minutes = (now - last).total_seconds() / 60
        error: dict[str, Any] = {
            "step": None, "type": "Abandoned", "failed_at": now.isoformat(), "started_at": run.started_at.isoformat(),
            "affected": [], "message": f"no sign of life for {minutes:.0f} min (since {last.isoformat()}): its process "
                                       "stopped before it could end the run; what it wrote before stands (every "
                                       "write is atomic and idempotent): run it again"}
        dead = run.model_copy(update={"status": "abandoned", "ended_at": now, "error": error})
        deps.store.put_job(dead)
        deps.notifier.notify(f"[OMS] ABANDONED {run.job}: no sign of life for {minutes:.0f} min",
                             end_message(dead), level="error", data=dead.model_dump(mode="json"))
        open_incident_for(deps, dead)
        abandoned.append(dead)
    return abandoned


def alert_overdue_jobs(deps: Deps, *, scan: int = 1000) -> list[JobRun]:
    """Job runs still `running` past `OMS_JOB_MAX_MINUTES`: one alert each
    (the run is marked so the next sweep does not repeat it)."""
    now = deps.clock.now()
    limit = timedelta(minutes=deps.settings.job_max_minutes)
    alerted = []
    for run in deps.store.running_jobs(scan):
        if run.details.get("overdue_alerted_at") or now - run.started_at <= limit:
            continue
        minutes = (now - run.started_at).total_seconds() / 60
        marked = run.model_copy(update={"details": {**run.details, "overdue_alerted_at": now.isoformat()}})
        deps.store.put_job(marked)
        deps.notifier.notify(
            f"[OMS] {run.job} still running after {minutes:.0f} min (limit {deps.settings.job_max_minutes:g})",
            "\n".join([start_message(run), f"Running:  {minutes:.0f} min",
                        "It may be stuck or its process may have died; check the host's logs."]),
            level="warning", data=marked.model_dump(mode="json"))
        alerted.append(marked)
    return alerted


@contextmanager
def job_run(deps: Deps, job: str, source: str | None = None, job_id: str | None = None) -> Iterator[JobRecorder]:
    recorder = JobRecorder(deps, job, source, job_id)
    with correlate(job_id=recorder.run.job_id):
        recorder.start()  # a run that cannot start tells people, then raises
        try:
            yield recorder
        except BaseException as error:
            recorder.finish(error)
            raise
        recorder.finish()
