"""A job run whose process died stays `running` forever unless someone says
otherwise: runs write a heartbeat while they work, and the sweep marks a run
without one for OMS_JOB_ABANDON_MINUTES `abandoned` and tells people, once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.domain.models import JobRun
from common.service import jobs
from common.service.bootstrap import Deps
from common.service.handlers.sla import sweep_sla
from common.service.jobs import abandon_dead_jobs, alert_overdue_jobs, job_run

ROOT = Path(__file__).resolve().parents[2]


def _sent(deps: Deps) -> list[dict[str, object]]:
    assert isinstance(deps.notifier, MemoryNotifier)
    return deps.notifier.sent


def test_a_job_run_whose_process_was_killed_is_marked_abandoned_by_the_sweep(deps: Deps) -> None:
    # A real process starts a run on the same store and dies in the middle of it.
    died = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os
        from common.adapters.clock import FixedClock
        from common.adapters.sqlite import SqliteInventory, SqliteStore
        from common.config import Settings
        from common.service.bootstrap import build
        from common.service.jobs import job_run
        settings = Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH={deps.settings.sqlite_path!r},
                            OMS_DATA_DIR={str(deps.settings.data_dir)!r})
        deps = build(settings, store=SqliteStore(settings.sqlite_path), inventory=SqliteInventory(settings.sqlite_path),
                     clock=FixedClock())  # the test's time
        with job_run(deps, "ingest-project-master", "file:big.parquet") as recorder:
            recorder.count("new", 5000)
            os._exit(137)  # as the OOM killer or a host timeout would end it
    """)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert died.returncode == 137
    [run] = deps.store.list_jobs()
    assert run.status == "running"

    assert abandon_dead_jobs(deps) == []  # not yet: it may be working
    assert isinstance(deps.clock, FixedClock)
    deps.clock.advance(timedelta(minutes=deps.settings.job_abandon_minutes + 1))
    [dead] = abandon_dead_jobs(deps)

    assert dead.job_id == run.job_id
    stored = deps.store.get_job(run.job_id)
    assert stored is not None and stored.status == "abandoned" and stored.ended_at is not None
    assert stored.error is not None and stored.error["type"] == "Abandoned"
    [mail] = [m for m in _sent(deps) if "ABANDONED" in str(m["subject"])]
    assert mail["level"] == "error" and run.job_id in str(mail["body"])
    assert abandon_dead_jobs(deps) == []  # told once


def test_a_working_run_keeps_its_heartbeat_and_is_not_abandoned(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.0)
    assert isinstance(deps.clock, FixedClock)
    with job_run(deps, "ingest-project-master", "file:big.parquet") as recorder:
        for _ in range(3):
            deps.clock.advance(timedelta(minutes=deps.settings.job_abandon_minutes - 1))
            recorder.count("new", 1000)  # a beat: the run is alive
            assert abandon_dead_jobs(deps) == []
        stored = deps.store.get_job(recorder.run.job_id)
        assert stored is not None and stored.heartbeat_at == deps.clock.at
        assert stored.counts["new"] == 3000  # the heartbeat shows the progress
    assert deps.store.get_job(recorder.run.job_id).status == "succeeded"  # type: ignore[union-attr]


def test_a_run_that_ends_after_being_called_abandoned_records_how_it_really_ended(deps: Deps) -> None:
    assert isinstance(deps.clock, FixedClock)
    with job_run(deps, "allocation", "cli") as recorder:
        deps.clock.advance(timedelta(minutes=deps.settings.job_abandon_minutes + 1))
        [dead] = abandon_dead_jobs(deps)
        assert dead.job_id == recorder.run.job_id
    assert deps.store.get_job(recorder.run.job_id).status == "succeeded"  # type: ignore[union-attr]


def test_the_sla_sweep_abandons_dead_runs_and_counts_them(deps: Deps) -> None:
    assert isinstance(deps.clock, FixedClock)
    deps.store.put_job(JobRun(job_id="allocation-dead", job="allocation", started_at=deps.clock.now()))
    deps.clock.advance(timedelta(hours=1))

    run = sweep_sla(deps)

    assert run.counts["abandoned_jobs"] == 1
    assert deps.store.get_job("allocation-dead").status == "abandoned"  # type: ignore[union-attr]


def test_a_dead_run_under_a_thousand_newer_finished_runs_is_still_abandoned(deps: Deps) -> None:
    # A long first load dies while event batches keep finishing runs of their
    # own: the sweep read only the newest 500 runs and never saw it.
    assert isinstance(deps.clock, FixedClock)
    dead = JobRun(job_id="job-dead", job="ingest-project-master", started_at=deps.clock.now())
    deps.store.put_job(dead)
    for n in range(1200):
        deps.store.put_job(JobRun(job_id=f"batch-{n:04d}", job="ingest-engineering-events", status="succeeded",
                                  started_at=deps.clock.now() + timedelta(seconds=n + 1),
                                  ended_at=deps.clock.now() + timedelta(seconds=n + 1)))
    deps.clock.advance(timedelta(minutes=deps.settings.job_abandon_minutes + 1))

    assert [run.job_id for run in abandon_dead_jobs(deps)] == ["job-dead"]
    assert [run.job_id for run in alert_overdue_jobs(deps)] == []  # no longer running
