"""The order-flow counters (common/domain/flow.py) that every store keeps in
the same atomic write as the order change: after a random workload of
creates, transitions, cancels, flags, holds, refused stale writes and
partitions that conflict beside others that commit, they equal a recount from
the documents, and the metrics read from them equal a full scan. Run on every
store adapter (tests/adapters/store_factories.py)."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common.adapters.clock import FixedClock
from common.config import Settings
from common.domain import flow
from common.domain.models import (
    Actor,
    ActorType,
    AuditEntry,
    EngineeringHold,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
)
from common.ports import DocWrite, PartitionChanges, Store
from common.service.bootstrap import build
from common.service.handlers.metrics import flow_metrics
from common.service.paging import all_audit
from tests.helpers.flow_reference import all_orders, same_as_full_scan

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ACTOR = Actor(type=ActorType.SYSTEM, id="flow-contract")
SLA = {"Draft": 72.0, "Approved": 48.0, "Allocated": 24.0, "Released": 120.0}
# Few distinct entry times, so ties (same instant, same rounded overdue) are common.
TIMES = [T0 - timedelta(hours=h) for h in (0, 3, 30, 30.02, 50, 80, 80, 200, 201.5)] + [T0 + timedelta(hours=2)]


def _order(rng: random.Random, project: str, n: int) -> Order:
    at = rng.choice(TIMES)
    return Order(order_id=f"{project}~S~NewBuild~{n}", order_number=f"N-{n}", project_id=project, site_code="S",
                 order_type="NewBuild", seq=n, kind=rng.choice(list(OrderKind)), status=OrderStatus.DRAFT,
                 lines=[OrderLine(line_no=1, sku="ANT", qty=1)], created_at=at, updated_at=at,
                 status_since=rng.choice([None, at]))


def _mutate(rng: random.Random, order: Order) -> Order:
    status = rng.choice([OrderStatus.DRAFT, OrderStatus.APPROVED, OrderStatus.ALLOCATED, OrderStatus.RELEASED,
                         OrderStatus.RELEASED, OrderStatus.CLOSED, OrderStatus.CANCELLED])
    since = rng.choice(TIMES)
    flags = rng.sample([f"{status.value}@x", f"{status.value}@y", "Draft@z", "need_by@2026-11-01"], rng.randint(0, 3))
    hold = EngineeringHold(at=rng.choice(TIMES), event_id="e", failed_checks=["power"]) if rng.random() < 0.2 \
        else None
    need_by = rng.choice([None, date(2026, 11, 1), date(2026, 11, 19), date(2026, 11, 20), date(2026, 12, 24)])
    return order.model_copy(update={"status": status, "status_since": since, "sla_breached": flags,
                                    "engineering_hold": hold, "need_by": need_by, "version": order.version + 1,
                                    "updated_at": since})


def _entry(before: Order | None, after: Order, n: int) -> AuditEntry:
    return AuditEntry(audit_id=f"{after.order_id}@{n}", order_id=after.order_id, project_id=after.project_id,
                      at=after.updated_at, actor=ACTOR, action="change",
                      from_status=before.status if before is not None else None, to_status=after.status)


def _workload(store: Store, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    live: dict[str, Order] = {}
    serial = 0
    for _ in range(steps):
        parts: list[PartitionChanges] = []
        stale: set[str] = set()
        for project in rng.sample(["PRJ-A", "PRJ-B", "PRJ-C", "PRJ-D"], rng.randint(1, 3)):
            part = PartitionChanges(partition=project)
            mine = [o for o in live.values() if o.project_id == project]
            for _ in range(rng.randint(1, 4)):
                serial += 1
                if not mine or rng.random() < 0.4:
                    order = _order(rng, project, serial)
                    part.orders[order.order_id] = DocWrite(order, None)
                    part.audit.append(_entry(None, order, serial))
                    mine.append(order)
                    continue
                old = rng.choice(mine)
                if old.order_id in part.orders:
                    continue
                new = _mutate(rng, old)
                expected = old.etag
                if rng.random() < 0.15:  # a writer that read an older version: the partition is refused
                    expected, _ = "0" * 16, stale.add(project)
                part.orders[old.order_id] = DocWrite(new, expected)
                part.audit.append(_entry(old, new, serial))
            parts.append(part)
        result = store.commit(parts)
        assert set(result.conflicts) == stale
        for part in parts:
            if part.partition not in result.conflicts:
                live.update({oid: w.doc for oid, w in part.orders.items()})


def test_the_counters_equal_a_recount_after_a_random_workload(store: Store) -> None:
    _workload(store, seed=3, steps=40)

    orders, audit = all_orders(store), all_audit(store)
    assert len(orders) > 40
    assert store.flow_counts() == flow.recount(orders, audit)


def test_the_metrics_from_the_counters_equal_a_full_scan(store: Store, tmp_path: Path) -> None:
    _workload(store, seed=11, steps=40)
    settings = Settings(OMS_SQLITE_PATH=str(tmp_path / "inv.db"), OMS_DATA_DIR=str(tmp_path / "d"),  # type: ignore[call-arg]
                        OMS_SLA_HOURS=json.dumps(SLA))
    for now in (T0, T0 + timedelta(hours=7.04), T0 + timedelta(days=9), T0 + timedelta(days=40)):
        deps = build(settings, store=store, clock=FixedClock(at=now))
        same_as_full_scan(flow_metrics(deps), store, now, deps.settings.sla_hours)


def test_the_entry_reads_are_sorted_and_bounded(store: Store) -> None:
    _workload(store, seed=5, steps=30)
    orders = all_orders(store)
    drafts = sorted((flow.entered(o), o.order_id) for o in orders if o.status == OrderStatus.DRAFT)
    assert store.orders_entered("Draft") == drafts
    cut = T0 - timedelta(hours=40)
    assert store.orders_entered("Draft", end=cut, limit=3) == [d for d in drafts if d[0] < cut][:3]
    assert store.orders_entered("Draft", limit=3, offset=2) == drafts[2:5]
    assert store.orders_entered("Draft", start=cut, offset=1) == [d for d in drafts if d[0] >= cut][1:]
    assert store.orders_entered("Draft", start=cut, by_id=True) == sorted(
        [d for d in drafts if d[0] >= cut], key=lambda d: d[1])
    released = sorted((o.need_by, o.order_id) for o in orders
                      if o.status == OrderStatus.RELEASED and o.need_by is not None)
    assert store.released_by_need_by(5) == released[:5]
    held = sorted((o.engineering_hold.at.isoformat(), o.order_id) for o in orders if o.engineering_hold)
    assert [o.order_id for o in store.held_orders(4)] == [oid for _, oid in held[:4]]
