"""Every kind of failure signal opens an incident with its own impact: a
dead-lettered batch (its events' streams), an SLA breach wave (a market
reaching its threshold in one sweep), a held release (the released order
whose site is not feasible) and a failed allocation run (the orders it was
to allocate)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from common.adapters.stakeholders import MemoryMessenger
from common.domain.incidents import IncidentSource, Severity
from common.service.bootstrap import Deps, build
from common.service.commands import IngestEngineeringEvents, RunAllocation
from common.service.deadletters import dead_letter
from common.service.handlers.allocation import run_allocation
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.sla import sweep_sla
from common.service.stakeholders import MESSENGER
from tests.helpers.warehouse import ORDER, allocate, approve, design, design_event, release, stock_up

NY, DAL = "PRJ-0000101", "PRJ-0000104"
TYPES = ("NewBuild", "Upgrade", "Modification", "Maintenance")


@pytest.fixture
def deps(seeded: Deps) -> Deps:
    seeded.extras[MESSENGER] = MemoryMessenger()
    seeded.settings = seeded.settings.model_copy(update={"incident_subscribers": [
        {"market": "New York", "mail": "ny@example.test"}, {"market": "Dallas", "mail": "dal@example.test"}]})
    return seeded


def sent(deps: Deps) -> list[dict[str, Any]]:
    messenger: MemoryMessenger = deps.extras[MESSENGER]
    return messenger.sent


def designs(project: str, site: str, types: tuple[str, ...] = TYPES, prefix: str = "e") -> list[dict[str, Any]]:
    return [design_event(f"{prefix}-{project}-{t}", 1, {"ANT-4T4R-B41": 1}, project, site, order_type=t,
                         at="2026-11-20T08:00:00Z") for t in types]


def test_an_sla_breach_wave_opens_an_incident_for_the_market_over_its_threshold_only(deps: Deps) -> None:
    deps.settings = deps.settings.model_copy(update={"incident_sla_wave": {"New York": 3, "*": 10}})
    ingest_engineering_events(deps, IngestEngineeringEvents(
        designs(NY, "NYC-00417") + designs(DAL, "DAL-00555", ("NewBuild",)), channel="file"))
    deps.clock.advance(timedelta(hours=73))  # type: ignore[attr-defined]  # past the 72 h Draft SLA

    run = sweep_sla(deps)

    assert run.counts["flagged"] == 5 and run.counts["incidents"] == 1
    [incident] = deps.store.list_incidents().items
    assert incident.key == "sla-wave:New York" and incident.source == IncidentSource.SLA_WAVE
    assert incident.impact.order_count == 4 and incident.impact.breached == 4
    assert incident.impact.market_names == ["New York"] and incident.severity == Severity.HIGH
    assert all(o.hours_left == -1.0 and o.clock == "Draft age" for o in incident.impact.orders)
    assert [m["address"] for m in sent(deps)] == ["ny@example.test"]
    assert "4 orders in New York breached an SLA in one sweep (threshold 3)" in sent(deps)[0]["body"]


def test_a_market_whose_threshold_is_0_never_has_a_wave(deps: Deps) -> None:
    deps.settings = deps.settings.model_copy(update={"incident_sla_wave": {"New York": 0, "*": 1}})
    ingest_engineering_events(deps, IngestEngineeringEvents(designs(NY, "NYC-00417"), channel="file"))
    deps.clock.advance(timedelta(hours=73))  # type: ignore[attr-defined]

    sweep_sla(deps)

    assert deps.store.list_incidents().items == []


def test_a_dead_lettered_batch_opens_an_incident_naming_its_events_streams(deps: Deps) -> None:
    ingest_engineering_events(deps, IngestEngineeringEvents(designs(NY, "NYC-00417", ("NewBuild",)), channel="file"))
    held_back = designs(NY, "NYC-00417", ("NewBuild", "Upgrade"), prefix="late")

    name = dead_letter(deps, "engineering-events", held_back, ConnectionError("store unreachable"))
    again = dead_letter(deps, "engineering-events", held_back, ConnectionError("store unreachable"))

    assert name is not None and again == name  # the retries of one batch: one dead letter, one signal
    [incident] = deps.store.list_incidents().items
    assert incident.key == "dead-letter:engineering-events" and incident.occurrences == 1
    assert [o.order_id for o in incident.impact.orders] == [f"{NY}~NYC-00417~NewBuild~1"]
    assert incident.impact.project_ids == [NY] and incident.impact.records == [e["event_id"] for e in held_back]
    assert incident.signals[0].ref == name and name in incident.summary
    assert incident.impact.systems == ["engineering", "order-events"]


def test_a_held_release_opens_an_incident_for_its_project_touching_the_warehouse(deps: Deps) -> None:
    stock_up(deps, {"ANT-4T4R-B41": 10, "RRU-B41-160W": 10, "CBL-HYB-30M": 10, "MNT-PIPE-2M": 10})
    design(deps)
    approve(deps, ORDER)
    allocate(deps, ORDER)
    release(deps, ORDER)

    ingest_engineering_events(deps, IngestEngineeringEvents([{
        "event_id": "f-no", "event_type": "FeasibilityUpdated", "occurred_at": "2026-11-21T09:00:00Z",
        "project_id": NY, "site_code": "NYC-00417", "order_type": "NewBuild", "feasible": False,
        "checks": [{"name": "power", "status": "failed"}]}], channel="file"))

    [incident] = deps.store.list_incidents().items
    assert incident.key == f"held-release:{NY}" and incident.source == IncidentSource.HELD_RELEASE
    assert [(o.order_id, o.status.value) for o in incident.impact.orders] == [(ORDER, "Released")]
    assert "failed checks: power" in incident.summary
    assert incident.impact.systems == ["warehouse", "engineering", "order-events"]
    assert [m["address"] for m in sent(deps)] == ["ny@example.test"]


def test_a_failed_allocation_run_names_the_orders_it_was_to_allocate(deps: Deps) -> None:
    class FailingInventory:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def reserve(self, *args: Any) -> Any:
            raise sqlite3.OperationalError("disk I/O error")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    stock_up(deps, {"ANT-4T4R-B41": 10})
    ingest_engineering_events(deps, IngestEngineeringEvents(
        designs(NY, "NYC-00417", ("NewBuild",)) + designs(DAL, "DAL-00555", ("NewBuild",)), channel="file"))
    approve(deps, f"{NY}~NYC-00417~NewBuild~1")
    approve(deps, f"{DAL}~DAL-00555~NewBuild~1")
    broken = build(deps.settings, store=deps.store, inventory=FailingInventory(deps.inventory), clock=deps.clock,
                   notifier=deps.notifier, extras=deps.extras)

    with pytest.raises(sqlite3.OperationalError):
        run_allocation(broken, RunAllocation(dry_run=False))

    [incident] = deps.store.list_incidents().items
    assert incident.key == "job:allocation" and incident.title == "The allocation run failed"
    assert sorted(o.order_id for o in incident.impact.orders) == [f"{NY}~NYC-00417~NewBuild~1",
                                                                   f"{DAL}~DAL-00555~NewBuild~1"]
    assert incident.impact.systems == ["warehouse", "order-events"]
    assert sorted(m["address"] for m in sent(deps)) == ["dal@example.test", "ny@example.test"]


def test_a_batch_dead_lettered_while_the_store_was_down_gets_its_incident_at_the_next_sweep(deps: Deps) -> None:
    class DownStore:
        """The store as it is when batches are dead-lettered: nothing answers."""

        def __getattr__(self, name: str) -> Any:
            def down(*args: Any, **kwargs: Any) -> Any:
                raise sqlite3.OperationalError("unable to open database file")
            return down

    ingest_engineering_events(deps, IngestEngineeringEvents(designs(NY, "NYC-00417", ("NewBuild",)), channel="file"))
    down = build(deps.settings, store=DownStore(), inventory=deps.inventory, clock=deps.clock,
                 notifier=deps.notifier, extras=deps.extras, blobs=deps.blobs)
    name = dead_letter(down, "engineering-events", designs(NY, "NYC-00417", ("NewBuild",), prefix="late"),
                       sqlite3.OperationalError("unable to open database file"))
    assert name is not None and deps.store.list_incidents().items == []

    first = sweep_sla(deps)
    second = sweep_sla(deps)

    [incident] = deps.store.list_incidents().items
    assert incident.key == "dead-letter:engineering-events" and incident.signals[0].ref == name
    assert [o.order_id for o in incident.impact.orders] == [f"{NY}~NYC-00417~NewBuild~1"]
    assert first.counts["incidents"] == 1 and second.counts["incidents"] == 0
    assert [m["address"] for m in sent(deps)] == ["ny@example.test"]


def test_stakeholders_are_sent_to_side_by_side_so_one_slow_relay_does_not_queue_the_others(deps: Deps) -> None:
    import threading

    class Meeting(MemoryMessenger):
        """Each send waits for the other two: done one after another, none would ever return."""

        def __init__(self) -> None:
            super().__init__()
            self.all_in_flight = threading.Barrier(3, timeout=10)

        def send(self, *args: Any, **kwargs: Any) -> None:
            self.all_in_flight.wait()
            super().send(*args, **kwargs)

    deps.extras[MESSENGER] = Meeting()
    deps.settings = deps.settings.model_copy(update={"incident_subscribers": [
        {"market": "New York", "mail": f"ny{n}@example.test"} for n in range(3)]})
    ingest_engineering_events(deps, IngestEngineeringEvents(designs(NY, "NYC-00417", ("NewBuild",)), channel="file"))

    dead_letter(deps, "engineering-events", designs(NY, "NYC-00417", ("NewBuild",), prefix="late"),
                ConnectionError("store unreachable"))

    assert sorted(m["address"] for m in sent(deps)) == [f"ny{n}@example.test" for n in range(3)]
