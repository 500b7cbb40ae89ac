"""Job notifications reach people: mail through a real SMTP server, JSON
posts to a real HTTP receiver, and a failure carries its context."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from common.adapters.clock import FixedClock
from common.adapters.notify import (
    FanoutNotifier,
    LogNotifier,
    MemoryNotifier,
    SmtpNotifier,
    WebhookNotifier,
    build_notifier,
)
from common.config import Settings
from common.service.bootstrap import Deps, build
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.jobs import alert_overdue_jobs, job_run
from tests.conftest import SAMPLES
from tests.helpers.outages import CommitFails
from tests.service.conftest import HttpReceiver, SmtpServer, free_port


def _events(n: int = 3) -> list[dict[str, Any]]:
    lines = (SAMPLES / "engineering-events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:n]]


def _mailer(server: SmtpServer, **kw: Any) -> SmtpNotifier:
    return SmtpNotifier(server.host, server.port, sender="oms@example.test", recipients=["ops@example.test"],
                        base_delay=0.01, **kw)


def test_failing_job_sends_one_failure_mail_and_quarantines_what_it_could_not_apply(
        seeded: Deps, smtp_server: SmtpServer) -> None:
    deps = build(seeded.settings, store=CommitFails(seeded.store), clock=seeded.clock,
                 notifier=_mailer(smtp_server))
    events = _events(3)

    with pytest.raises(sqlite3.OperationalError):
        ingest_engineering_events(deps, IngestEngineeringEvents(events, channel="file", file_name="batch.jsonl"))

    failures = [m for m in smtp_server.box.messages if "FAILED" in str(m["Subject"])]
    assert len(failures) == 1
    mail = failures[0]
    assert "ingest-engineering-events" in str(mail["Subject"])
    assert "commit" in str(mail["Subject"])
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Failing step: commit" in body
    assert "OperationalError: disk I/O error" in body
    assert "Started:" in body and "Ended:" in body
    for event in events:
        assert event["event_id"] in body
    quarantined = {r.event_id: r for r in seeded.store.list_quarantine().items}
    assert set(quarantined) == {e["event_id"] for e in events}
    assert all(r.reasons[0].type == "store_unavailable" for r in quarantined.values())
    assert quarantined[events[0]["event_id"]].payload == events[0]
    run = seeded.store.list_jobs(1)[0]
    assert run.status == "failed" and run.error is not None and run.error["step"] == "commit"


def test_every_job_mails_its_start_and_its_counts_at_the_end(seeded: Deps, smtp_server: SmtpServer) -> None:
    deps = build(seeded.settings, store=seeded.store, clock=seeded.clock, notifier=_mailer(smtp_server))

    report = ingest_engineering_events(deps, IngestEngineeringEvents(_events(3), channel="file"))

    assert report.job.status == "succeeded"
    subjects = smtp_server.box.subjects()
    assert subjects[0] == "[OMS] ingest-engineering-events started"
    assert subjects[1].startswith("[OMS] ingest-engineering-events succeeded: created 3, modified 0, skipped 0")
    body = smtp_server.box.messages[1].get_payload(decode=True).decode()  # type: ignore[union-attr]
    for name in ("created", "modified", "skipped", "parked", "quarantined", "failed"):
        assert name in body
    assert report.job.job_id in body


def test_mail_logs_in_over_starttls_when_configured(tls_smtp_server: SmtpServer) -> None:
    notifier = _mailer(tls_smtp_server, user="oms", password="s3cret", starttls=True,
                       ssl_context=tls_smtp_server.client_context)

    notifier.notify("[OMS] hello", "body", data={"job_id": "j-1"})

    assert tls_smtp_server.box.logins == ["oms"]
    assert tls_smtp_server.box.tls == [True]
    assert tls_smtp_server.box.subjects() == ["[OMS] hello"]


def test_an_unreachable_mail_server_never_breaks_a_job(seeded: Deps, caplog: pytest.LogCaptureFixture) -> None:
    closed = SmtpNotifier("127.0.0.1", free_port(), sender="oms@x", recipients=["ops@x"], attempts=3,
                          base_delay=0.01, timeout=2)
    deps = build(seeded.settings, store=seeded.store, clock=seeded.clock, notifier=closed)

    report = ingest_engineering_events(deps, IngestEngineeringEvents(_events(1), channel="file"))

    assert report.job.status == "succeeded"
    assert report.counts["created"] == 1
    assert any("after 3 attempts" in r.getMessage() for r in caplog.records)


def test_webhook_posts_text_for_chat_and_the_structured_run(seeded: Deps, http_receiver: HttpReceiver) -> None:
    deps = build(seeded.settings, store=seeded.store, clock=seeded.clock,
                 notifier=WebhookNotifier(http_receiver.url, base_delay=0.01))

    with job_run(deps, "sla-sweep") as recorder:
        recorder.count("flagged", 2)

    assert len(http_receiver.bodies) == 2
    end = http_receiver.bodies[1]
    assert end["text"].startswith("[OMS] sla-sweep succeeded")
    assert end["level"] == "info"
    assert end["data"]["counts"]["flagged"] == 2
    assert end["data"]["job_id"] == recorder.run.job_id


def test_webhook_retries_a_busy_receiver_with_backoff(http_receiver: HttpReceiver) -> None:
    http_receiver.script = [503, 429]
    notifier = WebhookNotifier(http_receiver.url, attempts=4, base_delay=0.01)

    notifier.notify("[OMS] x", "y")

    assert http_receiver.attempts == 3
    assert [b["subject"] for b in http_receiver.bodies] == ["[OMS] x"]


def test_webhook_gives_up_on_a_client_error_without_retrying(http_receiver: HttpReceiver) -> None:
    http_receiver.script = [400, 400, 400]
    WebhookNotifier(http_receiver.url, attempts=4, base_delay=0.01).notify("[OMS] x", "y")

    assert http_receiver.attempts == 1
    assert http_receiver.bodies == []


def test_fanout_tells_the_others_when_one_notifier_fails() -> None:
    class Exploding:
        def notify(self, subject: str, body: str, *, level: str = "info", data: Any = None) -> None:
            raise RuntimeError("boom")

    memory = MemoryNotifier()
    FanoutNotifier([Exploding(), memory]).notify("s", "b", level="error")

    assert memory.sent == [{"subject": "s", "body": "b", "level": "error", "data": {}}]


def test_settings_choose_the_notifiers(tmp_path: Any) -> None:
    plain = Settings(OMS_SQLITE_PATH=str(tmp_path / "a.db"))  # type: ignore[call-arg]
    assert isinstance(build_notifier(plain), LogNotifier)
    full = Settings(OMS_SMTP_HOST="mail.local", OMS_SMTP_PORT="587", OMS_SMTP_STARTTLS="true",  # type: ignore[call-arg]
                    OMS_SMTP_TO="a@x, b@x", OMS_NOTIFY_WEBHOOK_URL="http://hook.local/x")
    fan = build_notifier(full)
    assert isinstance(fan, FanoutNotifier)
    kinds = [type(n) for n in fan.notifiers]
    assert kinds == [LogNotifier, SmtpNotifier, WebhookNotifier]
    smtp = fan.notifiers[1]
    assert isinstance(smtp, SmtpNotifier)
    assert (smtp.port, smtp.starttls, smtp.recipients) == (587, True, ["a@x", "b@x"])


def test_a_job_running_past_the_limit_alerts_once(deps: Deps, clock: FixedClock) -> None:
    deps.settings = deps.settings.model_copy(update={"job_max_minutes": 30})
    recorder_holder = []
    with job_run(deps, "allocation") as recorder:
        recorder_holder.append(recorder)
        clock.advance(timedelta(minutes=20))
        assert alert_overdue_jobs(deps) == []
        clock.advance(timedelta(minutes=20))
        first = alert_overdue_jobs(deps)
        second = alert_overdue_jobs(deps)

    assert [r.job_id for r in first] == [recorder.run.job_id]
    assert second == []
    notifier = deps.notifier
    assert isinstance(notifier, MemoryNotifier)
    overdue = [m for m in notifier.sent if "still running" in m["subject"]]
    assert len(overdue) == 1
    assert overdue[0]["level"] == "warning"
    assert "40 min" in overdue[0]["subject"]
