"""The incident rules, pure: the lifecycle table, the impact assessment (SLA
clock per order, roll-up per project and market), recurrences, who is told
what, and the words of the messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from common.domain import incidents as rules
from common.domain.incident_notices import MessageKind, impact_in_words, plan, render
from common.domain.incidents import (
    Incident,
    IncidentInvalid,
    IncidentRefused,
    IncidentSource,
    IncidentStatus,
    Severity,
    Signal,
    Subscription,
    SubscriptionChannel,
)
from common.domain.models import Actor, ActorType, Order, OrderStatus, Project

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
OPS = Actor(type=ActorType.USER, id="olga")
SLA = {"Draft": 72.0, "Approved": 48.0, "Released": 120.0}
PROJECTS = {"P1": Project(project_id="P1", market="Boston", project_status="Active", milestone="m"),
            "P2": Project(project_id="P2", market="Dallas", project_status="Active", milestone="m")}


def order(n: int, project: str = "P1", status: OrderStatus = OrderStatus.DRAFT, since: datetime = T0,
          need_by: date | None = None) -> Order:
    return Order(order_id=f"{project}~S~NewBuild~{n}", order_number=str(n), project_id=project, site_code="S",
                 order_type="NewBuild", seq=n, status=status, status_since=since, need_by=need_by, created_at=since,
                 updated_at=since)


def opened(orders: list[Order], at: datetime = T0, key: str = "job:x") -> Incident:
    impact = rules.assess(orders, PROJECTS, at, SLA, systems=["engineering"])
    return rules.open_incident(key=key, source=IncidentSource.JOB_FAILED, title="t", summary="s", impact=impact,
                               signal=Signal(kind=IncidentSource.JOB_FAILED, ref="run-1", at=at), risk_hours=24,
                               actor=OPS).incident


def test_each_order_carries_its_nearest_sla_clock_and_delivered_orders_none() -> None:
    now = T0 + timedelta(hours=10)
    impact = rules.assess([order(1), order(2, status=OrderStatus.RELEASED, need_by=date(2026, 11, 21)),
                           order(3, status=OrderStatus.CLOSED)], PROJECTS, now, SLA, systems=[])

    by_id = {o.order_id: o for o in impact.orders}
    assert (by_id["P1~S~NewBuild~1"].clock, by_id["P1~S~NewBuild~1"].hours_left) == ("Draft age", 62.0)
    assert (by_id["P1~S~NewBuild~2"].clock, by_id["P1~S~NewBuild~2"].hours_left) == ("need-by", 30.0)
    assert by_id["P1~S~NewBuild~3"].clock is None and by_id["P1~S~NewBuild~3"].due is None
    assert [o.order_id for o in impact.orders][:2] == ["P1~S~NewBuild~2", "P1~S~NewBuild~1"]  # nearest first
    assert impact.systems == ["warehouse"]  # a Released order holds stock


def test_the_impact_rolls_up_per_project_and_market_and_counts_projects_without_orders() -> None:
    impact = rules.assess([order(1), order(2), order(3, project="P2")], PROJECTS, T0, SLA, systems=["x"],
                          project_ids=["P9"])

    assert [(p.project_id, p.market, p.orders) for p in impact.projects] == [("P1", "Boston", 2),
                                                                            ("P2", "Dallas", 1), ("P9", None, 0)]
    assert [(m.market, m.projects, m.orders) for m in impact.markets] == [("Boston", 1, 2), ("Dallas", 1, 1)]
    assert impact.order_count == 3 and impact.breached == 0


@pytest.mark.parametrize(("status", "action"), [
    (IncidentStatus.ACKNOWLEDGED, "acknowledge"), (IncidentStatus.MITIGATED, "acknowledge"),
    (IncidentStatus.RESOLVED, "acknowledge"), (IncidentStatus.MITIGATED, "mitigate"),
    (IncidentStatus.RESOLVED, "mitigate"), (IncidentStatus.RESOLVED, "resolve"),
])
def test_the_lifecycle_never_goes_back_and_a_resolved_incident_is_final(status: IncidentStatus,
                                                                       action: str) -> None:
    incident = opened([order(1)]).model_copy(update={"status": status})
    with pytest.raises(IncidentRefused, match=f"it is {status.value}"):
        rules.move(incident, action, actor=OPS, at=T0, root_cause="r", resolution="r")


def test_mitigating_or_resolving_may_skip_a_step_and_each_stamps_who_and_when() -> None:
    incident = opened([order(1)])
    later = T0 + timedelta(hours=1)

    mitigated = rules.move(incident, "mitigate", actor=OPS, at=later, note="failover").incident
    resolved = rules.move(mitigated, "resolve", actor=OPS, at=later + timedelta(hours=1), root_cause="disk",
                          resolution="grown")

    assert (mitigated.status, mitigated.mitigated_by, mitigated.mitigation) == (IncidentStatus.MITIGATED, "olga",
                                                                                  "failover")
    assert resolved.incident.resolved_at == later + timedelta(hours=1) and resolved.incident.revision == 3
    assert resolved.audit.from_status == IncidentStatus.MITIGATED and resolved.audit.to_status == "resolved"
    assert {c.path for c in resolved.audit.changes} == {"status", "root_cause", "resolution"}


def test_resolving_needs_a_root_cause_and_the_resolution_and_an_eta_a_time_zone() -> None:
    incident = opened([order(1)])
    with pytest.raises(IncidentInvalid, match="root_cause is required"):
        rules.move(incident, "resolve", actor=OPS, at=T0, root_cause=" ", resolution="x")
    with pytest.raises(IncidentInvalid, match="resolution is required"):
        rules.move(incident, "resolve", actor=OPS, at=T0, root_cause="x")
    with pytest.raises(IncidentInvalid, match="time zone"):
        rules.move(incident, "acknowledge", actor=OPS, at=T0, eta=datetime(2026, 11, 21, 8, 0))


def test_a_recurrence_merges_the_impact_counts_once_per_signal_and_keeps_the_higher_severity() -> None:
    incident = opened([order(1)])
    signal = Signal(kind=IncidentSource.JOB_FAILED, ref="run-2", at=T0 + timedelta(hours=60))
    more = rules.assess([order(1), order(2, project="P2")], PROJECTS, signal.at, SLA, systems=["order-events"])

    again = rules.recur(incident, signal, more, PROJECTS, 24, OPS)

    assert again is not None
    merged = again.incident
    assert merged.occurrences == 2 and merged.impact.order_count == 2
    assert merged.impact.market_names == ["Boston", "Dallas"]
    assert merged.impact.systems == ["engineering", "order-events"]
    assert merged.severity == Severity.HIGH  # 12 h left of a 72 h clock at the second signal
    assert rules.grew(incident.impact, merged.impact)
    assert rules.recur(merged, signal, more, PROJECTS, 24, OPS) is None  # the same signal again: nothing new


def sub(n: int, *, market: str | None = None, project: str | None = None, address: str = "a@x.test",
        channel: SubscriptionChannel = SubscriptionChannel.MAIL) -> Subscription:
    return Subscription(subscription_id=f"S{n}", market=market, project_id=project, channel=channel,
                        address=address)


def test_a_subscriber_gets_the_notice_first_then_updates_and_one_message_for_two_matching_scopes() -> None:
    incident = opened([order(1), order(2, project="P2")])
    subs = [sub(1, market="Boston"), sub(2, project="P2"), sub(3, market="Chicago", address="c@x.test"),
            sub(4, market="*", address="exec@x.test")]

    first = plan(subs, incident, MessageKind.NOTICE)
    told = rules.told(incident, [d.recipient for d in first])

    assert [(d.address, d.kind, d.markets, d.projects, d.everything) for d in first] == [
        ("a@x.test", MessageKind.NOTICE, ["Boston"], ["P2"], False),
        ("exec@x.test", MessageKind.NOTICE, [], [], True)]
    assert plan(subs, told, MessageKind.NOTICE) == []
    assert [d.kind for d in plan(subs, told, MessageKind.UPDATE)] == [MessageKind.UPDATE] * 2
    late = [*subs, sub(5, market="Dallas", address="d@x.test")]
    assert [(d.address, d.kind) for d in plan(late, told, MessageKind.SUMMARY)][-1] == ("d@x.test",
                                                                                       MessageKind.SUMMARY)


def test_a_message_says_the_impact_in_the_subscribers_scope_and_overall() -> None:
    incident = opened([order(1), order(2), order(3, project="P2")])
    mine = rules.scoped(incident.impact, {"Dallas"}, set())

    message = render(incident, MessageKind.NOTICE, mine, markets=["Dallas"])

    assert "1 order in 1 project (Dallas) is affected." in message.body
    assert "3 orders in 2 projects (Boston, Dallas) are affected." in message.body
    assert message.subject.endswith("Opened: t - 1 order, 1 project in market Dallas")
    assert message.data["impact"]["order_ids"] == ["P2~S~NewBuild~3"] and message.data["overall"]["orders"] == 3
    assert impact_in_words(rules.Impact()) == "No order or project is known to be affected."
    whole = render(incident, MessageKind.NOTICE, incident.impact, everything=True)
    assert "Overall" not in whole.body and "3 orders in 2 projects (Boston, Dallas) are affected." in whole.body
    new_site = rules.assess([], PROJECTS, T0, SLA, systems=[], project_ids=["P2"])
    assert impact_in_words(new_site) == "1 project (Dallas) is affected, with no order yet."
