"""Job runs: every batch, file, allocation run and sweep is one, with start,
end, status, counts and error context, and each start, end or failure is
told to the notifier."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from common.domain.models import JobRun
from common.service.bootstrap import Deps

log = logging.getLogger("oms.jobs")

BASE_COUNTS = ("created", "modified", "skipped", "parked", "quarantined", "failed")


class JobRecorder:
    def __init__(self, deps: Deps, job: str, source: str | None) -> None:
        self.deps = deps
        self.counts: Counter[str] = Counter(dict.fromkeys(BASE_COUNTS, 0))
        self.step = "start"
        self.details: dict[str, Any] = {}
        self.run = JobRun(job_id=f"{job}-{uuid.uuid4().hex[:12]}", job=job, source=source,
                          started_at=deps.clock.now())

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def _summary(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.counts.items()) if v or k in BASE_COUNTS)
        return f"{self.run.job} {self.run.status}: {shown}"

    def start(self) -> None:
        self.deps.store.put_job(self.run)
        self.deps.notifier.notify(f"[OMS] {self.run.job} started", f"job {self.run.job_id} started",
                                  data={"job_id": self.run.job_id, "source": self.run.source})

    def finish(self, error: BaseException | None = None) -> JobRun:
        ended = self.deps.clock.now()
        update: dict[str, Any] = {"ended_at": ended, "counts": dict(self.counts), "details": self.details,
                                  "status": "failed" if error is not None else "succeeded"}
        if error is not None:
            update["error"] = {"step": self.step, "type": type(error).__name__, "message": str(error),
                               "started_at": self.run.started_at.isoformat(), "failed_at": ended.isoformat(),
                               "affected": self.details.get("affected", [])}
        self.run = self.run.model_copy(update=update)
        try:
            self.deps.store.put_job(self.run)
        except Exception:  # the store may be what failed; the notifier still tells people
            log.exception("could not record job run %s", self.run.job_id)
        level = "error" if error is not None else "info"
        self.deps.notifier.notify(f"[OMS] {self._summary()}", self._summary(), level=level,
                                  data=self.run.model_dump(mode="json"))
        return self.run


@contextmanager
def job_run(deps: Deps, job: str, source: str | None = None) -> Iterator[JobRecorder]:
    recorder = JobRecorder(deps, job, source)
    recorder.start()
    try:
        yield recorder
    except BaseException as error:
        recorder.finish(error)
        raise
    recorder.finish()
