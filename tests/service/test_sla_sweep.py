"""SLA breaches: each flagged once, atomically with its audit entry and its
`oms.order.sla_breached` event; a later stay in a state is a breach of its own."""

from __future__ import annotations

import json
from datetime import timedelta

from azure.functions.timer import TimerRequest

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.domain.effects import evolve, record
from common.domain.events import OrderEventType
from common.domain.models import SYSTEM, Order, OrderStatus
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.sla import sweep_sla
from common.service.unit_of_work import UnitOfWork
from tests.conftest import SAMPLES
from tests.helpers.entry_points import process_deps


def _ingest(deps: Deps, n: int = 3) -> list[Order]:
    events = [json.loads(line) for line in (SAMPLES / "engineering-events.jsonl").read_text().splitlines()[:n]]
    ingest_engineering_events(deps, IngestEngineeringEvents(events, channel="file"))
    return deps.store.query_orders(OrderQuery()).items


def _move(deps: Deps, order_id: str, **changes: object) -> Order:
    uow = UnitOfWork(deps.store, deps.inventory)
    before = uow.order(order_id)
    assert before is not None
    after = evolve(before, deps.clock.now(), **changes)
    uow.add(record(before, after, action="test_move", actor=SYSTEM, at=deps.clock.now(), event=None))
    assert uow.commit().ok
    moved = deps.store.get_order(order_id)
    assert moved is not None
    return moved


def test_the_sweep_flags_each_breach_once_with_audit_and_event(seeded: Deps, clock: FixedClock) -> None:
    orders = _ingest(seeded, 3)
    clock.advance(timedelta(hours=73))

    run = sweep_sla(seeded)

    assert run.status == "succeeded"
    assert run.counts["flagged"] == len(orders) == 3
    for order in orders:
        stored = seeded.store.get_order(order.order_id)
        assert stored is not None
        assert stored.sla_breached == [f"Draft@{order.created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"]
        assert stored.status == OrderStatus.DRAFT
        audit = seeded.store.order_audit(order.order_id)[-1]
        assert audit.action == "sla_breached" and audit.correlation_id == run.job_id
        assert any(c.path == "sla_breached" for c in audit.changes)
        events = [e for e in seeded.store.outbox_events(order.order_id) if e.type == OrderEventType.SLA_BREACHED]
        assert len(events) == 1
        assert events[0].data["breached_status"] == "Draft"
    notifier = seeded.notifier
    assert isinstance(notifier, MemoryNotifier)
    summaries = [m for m in notifier.sent if m["subject"].startswith("[OMS] SLA:")]
    assert len(summaries) == 1 and "3 new SLA breach" in summaries[0]["body"]

    clock.advance(timedelta(hours=5))
    again = sweep_sla(seeded)

    assert again.counts["flagged"] == 0
    assert len([m for m in notifier.sent if m["subject"].startswith("[OMS] SLA:")]) == 1
    assert sum(e.type == OrderEventType.SLA_BREACHED for e in seeded.store.outbox_events()) == 3


def test_an_order_that_breaches_a_later_state_gets_its_own_breach(seeded: Deps, clock: FixedClock) -> None:
    order = _ingest(seeded, 1)[0]
    clock.advance(timedelta(hours=80))
    sweep_sla(seeded)
    _move(seeded, order.order_id, status=OrderStatus.APPROVED)
    clock.advance(timedelta(hours=49))

    run = sweep_sla(seeded)

    assert run.counts["breached_Approved"] == 1
    stored = seeded.store.get_order(order.order_id)
    assert stored is not None
    assert [k.split("@")[0] for k in stored.sla_breached] == ["Draft", "Approved"]


def test_a_released_order_past_need_by_is_flagged(seeded: Deps, clock: FixedClock) -> None:
    order = _ingest(seeded, 1)[0]
    _move(seeded, order.order_id, status=OrderStatus.RELEASED, need_by=clock.now().date())
    clock.advance(timedelta(days=1, hours=1))

    run = sweep_sla(seeded)

    assert run.counts["breached_need_by"] == 1
    stored = seeded.store.get_order(order.order_id)
    assert stored is not None and stored.sla_breached == [f"need_by@{order.created_at.date().isoformat()}"]


def test_the_timer_function_runs_the_sweep(seeded: Deps, clock: FixedClock) -> None:
    from functions.sla_timer import sla_sweep

    _ingest(seeded, 2)
    clock.advance(timedelta(days=4))
    with process_deps(seeded):
        sla_sweep(TimerRequest(past_due=False))

    (run,) = [j for j in seeded.store.list_jobs(10) if j.job == "sla-sweep"]
    assert run.counts["flagged"] == 2
