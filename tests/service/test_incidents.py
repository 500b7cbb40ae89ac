"""Incidents and stakeholder communication, end to end with real parts: a job
that fails on a store whose writes fail, the real SMTP server and the real
HTTP receiver (tests/service/conftest.py). Subscribers of the affected
markets hear one notice, an update on acknowledge and a summary on resolve;
subscribers of other markets hear nothing."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.domain.incidents import IncidentRefused, IncidentStatus, recipient
from common.domain.models import Actor, ActorType
from common.service import incidents
from common.service.bootstrap import Deps, build
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from tests.helpers.outages import CommitFails, commit_fails, fail_engineering_batch
from tests.helpers.warehouse import design_event
from tests.service.conftest import HttpReceiver, SmtpServer

NY, BOS, DAL, CHI = "PRJ-0000101", "PRJ-0000102", "PRJ-0000104", "PRJ-0000103"
OPERATOR = Actor(type=ActorType.USER, id="olga")

NY_MAIL, CHI_MAIL, BOS_MAIL, DAL_PROJECT_MAIL = ("ny@example.test", "chicago@example.test", "boston@example.test",
                                                 "dallas-pm@example.test")


def design(event_id: str, project: str, site: str, order_type: str, version: int, qty: int = 2,
           kind: str = "DesignApproved") -> dict[str, Any]:
    return design_event(event_id, version, {"ANT-4T4R-B41": qty}, project, site, order_type=order_type, kind=kind,
                        at="2026-11-20T08:00:00Z")


@pytest.fixture
def world(seeded: Deps, smtp_server: SmtpServer, http_receiver: HttpReceiver) -> Deps:
    """Orders in New York, Boston and Dallas; subscribers in New York (mail and
    webhook), Chicago and Boston (mail), and one of the Dallas project."""
    subscribers = [{"market": "New York", "mail": NY_MAIL}, {"market": "New York", "webhook": http_receiver.url},
                   {"market": "Chicago", "mail": CHI_MAIL}, {"market": "Boston", "mail": BOS_MAIL},
                   {"project_id": DAL, "mail": DAL_PROJECT_MAIL}]
    settings = seeded.settings.model_copy(update={"smtp_host": smtp_server.host, "smtp_port": smtp_server.port,
                                                  "incident_subscribers": subscribers})
    deps = build(settings, store=seeded.store, inventory=seeded.inventory, clock=seeded.clock,
                 notifier=MemoryNotifier())
    ingest_engineering_events(deps, IngestEngineeringEvents([
        design("e-ny-1", NY, "NYC-00417", "NewBuild", 1), design("e-bos-1", BOS, "BOS-00112", "Upgrade", 1),
        design("e-dal-1", DAL, "DAL-00555", "NewBuild", 1)], channel="http"))
    return deps


def mails_to(server: SmtpServer, address: str) -> list[Message]:
    return [m for m in server.box.messages if address in str(m["To"])]


def body(mail: Message) -> str:
    return mail.get_payload(decode=True).decode()  # type: ignore[union-attr]


def test_a_failing_job_opens_one_incident_with_exactly_the_orders_and_projects_it_could_not_change(
        world: Deps, smtp_server: SmtpServer, http_receiver: HttpReceiver) -> None:
    ny_order = world.store.get_streams([f"{NY}~NYC-00417~NewBuild"])[f"{NY}~NYC-00417~NewBuild"].order_ids
    dal_order = world.store.get_streams([f"{DAL}~DAL-00555~NewBuild"])[f"{DAL}~DAL-00555~NewBuild"].order_ids
    smtp_server.box.messages.clear()

    # Revisions of the New York and Dallas sites, and a first design for a
    # second Dallas stream (no order yet): none can be stored.
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, qty=5, kind="DesignRevised"),
                       design("e-dal-2", DAL, "DAL-00555", "NewBuild", 2, qty=7, kind="DesignRevised"),
                       design("e-dal-3", DAL, "DAL-00555", "Upgrade", 1)])

    found = world.store.list_incidents().items
    assert len(found) == 1
    incident = found[0]
    assert incident.status == IncidentStatus.OPEN and incident.key == "job:ingest-engineering-events"
    assert {o.order_id for o in incident.impact.orders} == {*ny_order, *dal_order}
    assert incident.impact.order_count == 2
    assert incident.impact.project_ids == [NY, DAL]
    assert incident.impact.market_names == ["Dallas", "New York"]
    assert sorted(incident.impact.records) == ["e-dal-2", "e-dal-3", "e-ny-2"]
    assert incident.impact.systems == ["engineering", "order-events"]
    for order in incident.impact.orders:  # a Draft order's clock: its state's SLA age (72 h by default)
        assert order.clock == "Draft age" and order.hours_left == 72.0
    assert [a.action for a in world.store.incident_audit(incident.incident_id)] == ["opened"]

    ny = mails_to(smtp_server, NY_MAIL)
    assert len(ny) == 1 and "Opened" in str(ny[0]["Subject"]) and incident.incident_id in str(ny[0]["Subject"])
    text = body(ny[0])
    assert "1 order in 1 project (New York) is affected" in text  # their scope, in words
    assert "2 orders in 2 projects (Dallas, New York) are affected" in text  # and overall
    assert ny_order[0] in text and dal_order[0] not in text.split("Overall")[0]
    assert mails_to(smtp_server, DAL_PROJECT_MAIL) and len(mails_to(smtp_server, DAL_PROJECT_MAIL)) == 1
    assert mails_to(smtp_server, CHI_MAIL) == [] and mails_to(smtp_server, BOS_MAIL) == []
    assert len(http_receiver.bodies) == 1
    hook = http_receiver.bodies[0]
    assert hook["data"]["type"] == "oms.incident.notice" and hook["data"]["incident_id"] == incident.incident_id
    assert hook["data"]["impact"]["order_ids"] == ny_order and hook["data"]["overall"]["orders"] == 2
    # The support team keeps its technical failure message, and hears of the incident.
    support = [m["subject"] for m in world.notifier.sent]  # type: ignore[attr-defined]
    assert any("FAILED ingest-engineering-events" in s for s in support)
    assert any(f"incident {incident.incident_id} opened" in s for s in support)


def test_the_same_failure_again_adds_to_the_open_incident_and_tells_only_when_the_impact_grows(
        world: Deps, smtp_server: SmtpServer, http_receiver: HttpReceiver) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, qty=5, kind="DesignRevised")])
    world.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    before = len(smtp_server.box.messages)

    fail_engineering_batch(world, [design("e-ny-3", NY, "NYC-00417", "NewBuild", 3, qty=6, kind="DesignRevised")])

    [incident] = world.store.list_incidents().items
    assert incident.occurrences == 2 and len(incident.signals) == 2
    assert len(smtp_server.box.messages) == before  # same order, same market: nothing new to say
    world.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]

    fail_engineering_batch(world, [design("e-bos-2", BOS, "BOS-00112", "Upgrade", 2, kind="DesignRevised")])

    [incident] = world.store.list_incidents().items
    assert incident.occurrences == 3 and incident.impact.market_names == ["Boston", "New York"]
    assert [str(m["Subject"]).split("]")[1].split(":")[0].strip() for m in mails_to(smtp_server, BOS_MAIL)] \
        == ["Opened"]  # Boston's first message is the notice
    assert [str(m["Subject"]).split("]")[1].split(":")[0].strip() for m in mails_to(smtp_server, NY_MAIL)] \
        == ["Opened", "Open"]  # New York hears an update
    assert "It happened again" in body(mails_to(smtp_server, NY_MAIL)[-1])
    assert [a.action for a in world.store.incident_audit(incident.incident_id)] == ["opened", "recurred",
                                                                                    "recurred"]
    assert mails_to(smtp_server, CHI_MAIL) == []


def test_acknowledge_and_resolve_send_an_update_and_a_summary_to_the_same_subscribers_only(
        world: Deps, smtp_server: SmtpServer, http_receiver: HttpReceiver) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [incident] = world.store.list_incidents().items
    world.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]

    acked = incidents.change(world, incident.incident_id, "acknowledge", actor=OPERATOR, note="looking at the disk",
                             if_match=incident.etag)
    world.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    resolved = incidents.change(world, incident.incident_id, "resolve", actor=OPERATOR,
                                root_cause="the data disk filled up", resolution="disk grown; events reprocessed")

    assert acked.status == IncidentStatus.ACKNOWLEDGED and acked.acknowledged_by == "olga"
    assert resolved.status == IncidentStatus.RESOLVED and resolved.resolved_at == resolved.updated_at
    ny = mails_to(smtp_server, NY_MAIL)
    assert [str(m["Subject"]).split("]")[1].split(":")[0].strip() for m in ny] == ["Opened", "Acknowledged",
                                                                                    "Resolved"]
    assert "looking at the disk" in body(ny[1])
    summary = body(ny[2])
    assert "Root cause:  the data disk filled up" in summary and "Duration:    2.08 h" in summary
    assert [b["data"]["type"] for b in http_receiver.bodies] == ["oms.incident.notice", "oms.incident.update",
                                                                 "oms.incident.resolved"]
    assert http_receiver.bodies[2]["data"]["root_cause"] == "the data disk filled up"
    assert mails_to(smtp_server, CHI_MAIL) == [] and mails_to(smtp_server, DAL_PROJECT_MAIL) == []
    audit = world.store.incident_audit(incident.incident_id)
    assert [(a.action, a.from_status, a.to_status) for a in audit] == [
        ("opened", None, "open"), ("acknowledged", "open", "acknowledged"), ("resolved", "acknowledged", "resolved")]
    assert audit[1].actor == OPERATOR and audit[1].reason == "looking at the disk"


def test_a_resolved_incident_is_final_and_the_next_failure_opens_a_new_one(
        world: Deps, smtp_server: SmtpServer) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [first] = world.store.list_incidents().items
    incidents.change(world, first.incident_id, "resolve", actor=OPERATOR, root_cause="disk", resolution="grown")

    with pytest.raises(IncidentRefused, match="it is resolved"):
        incidents.change(world, first.incident_id, "acknowledge", actor=OPERATOR)
    world.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    fail_engineering_batch(world, [design("e-ny-3", NY, "NYC-00417", "NewBuild", 3, kind="DesignRevised")])

    found = world.store.list_incidents().items
    assert len(found) == 2 and found[1].incident_id == first.incident_id
    assert found[0].status == IncidentStatus.OPEN and found[0].occurrences == 1
    assert len([m for m in mails_to(smtp_server, NY_MAIL) if "Opened" in str(m["Subject"])]) == 2


def test_an_illegal_move_changes_nothing_and_sends_nothing(world: Deps, smtp_server: SmtpServer) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [incident] = world.store.list_incidents().items
    incidents.change(world, incident.incident_id, "mitigate", actor=OPERATOR, note="reads from the replica")
    sent = len(smtp_server.box.messages)
    stored = world.store.get_incident(incident.incident_id)

    with pytest.raises(IncidentRefused, match=r"cannot acknowledge incident .*: it is mitigated"):
        incidents.change(world, incident.incident_id, "acknowledge", actor=OPERATOR)

    assert world.store.get_incident(incident.incident_id) == stored
    assert len(smtp_server.box.messages) == sent
    assert len(world.store.incident_audit(incident.incident_id)) == 2


def test_a_stale_if_match_is_refused_and_changes_nothing(world: Deps) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [incident] = world.store.list_incidents().items
    incidents.change(world, incident.incident_id, "update", actor=OPERATOR, note="still on it")

    with pytest.raises(incidents.IncidentConflict):
        incidents.change(world, incident.incident_id, "acknowledge", actor=OPERATOR, if_match=f'"{incident.etag}"')

    assert world.store.get_incident(incident.incident_id).status == IncidentStatus.OPEN  # type: ignore[union-attr]


def test_an_unreachable_subscriber_does_not_keep_the_others_from_hearing(
        world: Deps, smtp_server: SmtpServer, http_receiver: HttpReceiver) -> None:
    http_receiver.script = [400]  # the webhook refuses (a client error: not retried)

    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])

    assert len(mails_to(smtp_server, NY_MAIL)) == 1 and http_receiver.bodies == []
    assert len(world.store.list_incidents().items) == 1


def test_an_incident_that_cannot_be_written_never_breaks_the_failing_job(
        seeded: Deps, caplog: pytest.LogCaptureFixture) -> None:
    class DownStore(CommitFails):
        def open_incident(self, *args: Any) -> Any:
            raise sqlite3.OperationalError("database is locked")

    deps = build(seeded.settings, store=DownStore(seeded.store), clock=FixedClock(), notifier=MemoryNotifier())

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):  # the job's own error, not ours
        ingest_engineering_events(deps, IngestEngineeringEvents([design("e-1", NY, "NYC-00417", "NewBuild", 1)],
                                                                channel="http"))

    assert "could not raise the incident job:ingest-engineering-events" in caplog.text
    assert seeded.store.list_incidents().items == []


def test_of_two_operators_acknowledging_at_once_one_wins_and_the_other_is_refused(world: Deps) -> None:
    import threading

    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [incident] = world.store.list_incidents().items
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def ack(who: str) -> None:
        start.wait()
        try:
            incidents.change(world, incident.incident_id, "acknowledge", actor=Actor(type=ActorType.USER, id=who))
            outcomes.append("done")
        except IncidentRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=ack, args=(who,)) for who in ("olga", "omar")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["done", "refused"]
    assert [a.action for a in world.store.incident_audit(incident.incident_id)] == ["opened", "acknowledged"]


def test_a_recurrence_racing_an_operator_is_applied_after_it_and_neither_is_lost(
        world: Deps, smtp_server: SmtpServer) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [incident] = world.store.list_incidents().items
    acked = incidents.change(world, incident.incident_id, "acknowledge", actor=OPERATOR)

    class StaleFirst(CommitFails):
        """Hands out the incident as it was before the acknowledgement once,
        as a reader that lost the race to it would have read it."""

        served = False

        def open_incident(self, item: Any, audit: Any) -> Any:
            if not StaleFirst.served:
                StaleFirst.served = True
                return incident, False
            return self.inner.open_incident(item, audit)

    racing = commit_fails(world, StaleFirst)
    with pytest.raises(sqlite3.OperationalError):
        ingest_engineering_events(racing, IngestEngineeringEvents(
            [design("e-dal-9", DAL, "DAL-00555", "NewBuild", 2, kind="DesignRevised")], channel="http"))

    [after] = world.store.list_incidents().items
    assert after.status == IncidentStatus.ACKNOWLEDGED and after.acknowledged_at == acked.acknowledged_at
    assert after.occurrences == 2 and after.impact.market_names == ["Dallas", "New York"]
    audit = world.store.incident_audit(incident.incident_id)
    assert [a.action for a in audit] == ["opened", "acknowledged", "recurred"]
    told = next(c.new for c in audit[2].changes if c.path == "told")
    hook = world.settings.incident_subscribers[1]["webhook"]
    assert told == {"notice": [f"mail:{DAL_PROJECT_MAIL}"], "update": [f"mail:{NY_MAIL}", recipient("webhook", hook)]}
    # What every viewer reads names the webhook by its host, never its path (a chat webhook's secret).
    assert "/hook" not in recipient("webhook", hook) and recipient("webhook", hook).startswith("webhook:http://127")


class IncidentKeepsChanging(CommitFails):
    """A failing job's store on which every incident update loses to a
    concurrent writer (nothing written), however often it is read again."""

    updates = 0

    def update_incident(self, *args: Any) -> bool:
        IncidentKeepsChanging.updates += 1
        return False


def test_an_operator_change_that_keeps_losing_is_refused_after_its_attempts_and_writes_nothing(
        world: Deps, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [incident] = world.store.list_incidents().items
    sent = len(smtp_server.box.messages)
    IncidentKeepsChanging.updates = 0
    losing = commit_fails(world, IncidentKeepsChanging)

    with pytest.raises(RuntimeError, match="kept changing; try again"):
        incidents.change(losing, incident.incident_id, "acknowledge", actor=OPERATOR)

    assert IncidentKeepsChanging.updates == incidents.ATTEMPTS
    assert f"incident {incident.incident_id} acknowledge: 1 item(s) still lost" in caplog.text
    assert world.store.get_incident(incident.incident_id) == incident
    assert len(smtp_server.box.messages) == sent


def test_a_recurrence_that_keeps_losing_is_logged_and_never_breaks_the_failing_job(
        world: Deps, caplog: pytest.LogCaptureFixture) -> None:
    fail_engineering_batch(world, [design("e-ny-2", NY, "NYC-00417", "NewBuild", 2, kind="DesignRevised")])
    [incident] = world.store.list_incidents().items
    IncidentKeepsChanging.updates = 0
    losing = commit_fails(world, IncidentKeepsChanging)

    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):  # the job's own error, not ours
        ingest_engineering_events(losing, IngestEngineeringEvents(
            [design("e-dal-9", DAL, "DAL-00555", "NewBuild", 2, kind="DesignRevised")], channel="http"))

    assert IncidentKeepsChanging.updates == incidents.ATTEMPTS
    assert f"incident {incident.incident_id} kept changing; occurrence" in caplog.text
    assert "could not raise the incident job:ingest-engineering-events" in caplog.text
    assert world.store.get_incident(incident.incident_id) == incident
