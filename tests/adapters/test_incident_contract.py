"""The incident part of the store contract, on every store adapter (SQLite;
Cosmos DB on the local server): one live incident per key, updates only
against the ETag read (with their audit entry, all or nothing), resolving
frees the key, lists newest first with filters and keyset paging, and
subscriptions kept by id."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from common.domain.incidents import (
    Impact,
    Incident,
    IncidentAudit,
    IncidentSource,
    IncidentStatus,
    MarketImpact,
    ProjectImpact,
    Subscription,
    SubscriptionChannel,
)
from common.domain.models import Actor, ActorType
from common.ports import Store

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ACTOR = Actor(type=ActorType.SYSTEM, id="it")


def incident(key: str = "job:allocation", at: datetime = T0, n: int = 0, market: str = "New York",
             project: str = "PRJ-1") -> Incident:
    impact = Impact(projects=[ProjectImpact(project_id=project, market=market, orders=1)],
                    markets=[MarketImpact(market=market, projects=1, orders=1)], order_count=1)
    return Incident(incident_id=f"INC-{n:04d}-{key.replace(':', '-')}", key=key, source=IncidentSource.JOB_FAILED,
                    title="t", summary="s", impact=impact, opened_at=at, last_seen_at=at, updated_at=at)


def audit(item: Incident, n: int, action: str = "opened") -> IncidentAudit:
    return IncidentAudit(audit_id=f"{item.incident_id}@{n}", incident_id=item.incident_id, at=item.updated_at,
                         actor=ACTOR, action=action)


def test_opening_a_key_that_has_a_live_incident_hands_back_that_one_and_writes_nothing(store: Store) -> None:
    first, created = store.open_incident(incident(), audit(incident(), 1))
    assert created and first.etag

    second_try = incident(at=T0 + timedelta(minutes=5), n=1)
    found, created_again = store.open_incident(second_try, audit(second_try, 1))

    assert not created_again and found.incident_id == first.incident_id and found.etag == first.etag
    assert store.get_incident(second_try.incident_id) is None
    assert store.incident_audit(second_try.incident_id) == []
    assert [a.audit_id for a in store.incident_audit(first.incident_id)] == [f"{first.incident_id}@1"]


def test_an_update_needs_the_etag_it_was_read_with_and_writes_its_audit_entry_with_it(store: Store) -> None:
    stored, _ = store.open_incident(incident(), audit(incident(), 1))
    old = stored.etag
    assert old
    acked = stored.model_copy(update={"status": IncidentStatus.ACKNOWLEDGED, "revision": 2})

    assert store.update_incident(acked, old, audit(acked, 2, "acknowledged"))
    assert acked.etag and acked.etag != old
    stale = stored.model_copy(update={"status": IncidentStatus.MITIGATED, "revision": 2})
    assert not store.update_incident(stale, old, audit(stale, 3, "mitigated"))

    again = store.get_incident(stored.incident_id)
    assert again is not None and again.status == IncidentStatus.ACKNOWLEDGED and again.etag == acked.etag
    assert [a.action for a in store.incident_audit(stored.incident_id)] == ["opened", "acknowledged"]


def test_resolving_frees_the_key_for_a_new_incident(store: Store) -> None:
    stored, _ = store.open_incident(incident(), audit(incident(), 1))
    resolved = stored.model_copy(update={"status": IncidentStatus.RESOLVED, "revision": 2})
    assert store.update_incident(resolved, stored.etag or "", audit(resolved, 2, "resolved"))

    later = incident(at=T0 + timedelta(hours=1), n=1)
    found, created = store.open_incident(later, audit(later, 1))

    assert created and found.incident_id == later.incident_id
    assert [i.status for i in store.list_incidents().items] == [IncidentStatus.OPEN, IncidentStatus.RESOLVED]


def test_of_two_opens_of_one_key_racing_exactly_one_is_written(store: Store) -> None:
    for attempt in range(3):
        key = f"job:race-{attempt}"
        results: list[tuple[Incident, bool]] = []
        start = threading.Barrier(2)

        def open_one(n: int, key: str = key, start: threading.Barrier = start,
                     results: list[tuple[Incident, bool]] = results) -> None:
            item = incident(key, T0 + timedelta(seconds=n), n)
            start.wait()
            results.append(store.open_incident(item, audit(item, 1)))

        threads = [threading.Thread(target=open_one, args=(n,)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(created for _, created in results) == [False, True]
        assert len({found.incident_id for found, _ in results}) == 1


def test_incidents_list_newest_first_by_status_market_and_project_with_paging(store: Store) -> None:
    for n in range(5):
        item = incident(f"k{n}", T0 + timedelta(minutes=n), n, market="Boston" if n % 2 else "Dallas",
                        project=f"PRJ-{n}")
        store.open_incident(item, audit(item, 1))
    first = store.list_incidents(limit=2)
    assert [i.key for i in first.items] == ["k4", "k3"] and first.continuation
    second = store.list_incidents(limit=2, continuation=first.continuation)
    third = store.list_incidents(limit=2, continuation=second.continuation)
    assert [i.key for i in second.items] == ["k2", "k1"] and [i.key for i in third.items] == ["k0"]
    assert third.continuation is None
    assert [i.key for i in store.list_incidents(market="Boston").items] == ["k3", "k1"]
    assert [i.key for i in store.list_incidents(project_id="PRJ-2").items] == ["k2"]
    stored = store.list_incidents(market="Dallas").items[0]
    resolved = stored.model_copy(update={"status": IncidentStatus.RESOLVED})
    assert store.update_incident(resolved, stored.etag or "", audit(resolved, 2, "resolved"))
    assert [i.key for i in store.list_incidents(status="live").items] == ["k3", "k2", "k1", "k0"]
    assert [i.key for i in store.list_incidents(status="resolved").items] == ["k4"]
    with pytest.raises(ValueError):
        store.list_incidents(continuation="bm90LWEtdG9rZW4=")


def test_subscriptions_are_kept_by_id_and_removed(store: Store) -> None:
    mail = Subscription(subscription_id="SUB-1", market="New York", channel=SubscriptionChannel.MAIL,
                        address="ny@example.test", created_at=T0, created_by="olga")
    hook = Subscription(subscription_id="SUB-2", project_id="PRJ-1", channel=SubscriptionChannel.WEBHOOK,
                        address="https://hooks.example.test/x")
    store.put_subscription(mail)
    store.put_subscription(hook)
    store.put_subscription(mail.model_copy(update={"name": "NY desk"}))

    assert store.list_subscriptions() == [mail.model_copy(update={"name": "NY desk"}), hook]
    assert store.delete_subscription("SUB-1") and not store.delete_subscription("SUB-1")
    assert store.list_subscriptions() == [hook]
