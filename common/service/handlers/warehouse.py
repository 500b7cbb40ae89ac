"""Warehouse events in (DESIGN.md section 3, "Warehouse callbacks and
returns"; section 9): validate, deduplicate, decide by `common.domain.returns`,
apply the stock effect, and commit the order change with its audit entry,
outbox event and idempotency marker in one atomic write per partition.

Order of effects. The order (orders container) and the stock (inventory
container) cannot be written in one transaction. Every stock effect of a
warehouse event is idempotent (a reservation is consumed or released once per
order; returned units and adjustments go on hand once per adjustment id), so
it is applied FIRST and the order change + audit + outbox + marker are
committed after it: the effects say so (`StockEffect.first`, see
common/domain/effects.py) and the unit of work does it. A crash in between leaves the stock changed and the event
unmarked: the redelivered event is decided again, its stock effect is a no-op
the second time, and the order change is committed then. The other order
(order first) would lose the stock effect on a crash, because the redelivery
would be skipped as a duplicate.

Out of order. An event for an order that is not yet in the status it needs
but on its way there (a `ReleaseCompleted` while the order is Allocated) is
held on the order document (`Order.held_events`, written atomically with the
order and the event's marker), applied by `apply_held_events` when the order
gets there (the allocation release step calls it; so does every later
warehouse event for that order), and quarantined by `sweep_held_events` once
it has waited longer than `OMS_HOLD_MINUTES`.

Nothing an event brings is lost: it is applied, skipped as a duplicate, held
(reported as `parked`), or quarantined with every reason and no change but
the refusal on its order's audit trail.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from common.domain.delta import Outcome, StreamState
from common.domain.effects import refusal
from common.domain.ids import marker_id, project_of
from common.domain.models import SYSTEM, Actor, HeldEvent, Marker, Order, OrderStatus, Project, Reason
from common.domain.stock import adjustment_problems
from common.domain.warehouse import WarehouseDecision, decide_order_event, drop_held, refuse, unhold
from common.domain.warehouse_inbound import (
    ORDER_ID_PATTERN,
    OrderEvent,
    StockAdjusted,
    WarehouseEvent,
    adjustment_id,
    check_warehouse_event,
)
from common.ports import OrderQuery, PartitionChanges
from common.service.bootstrap import Deps
from common.service.commands import WAREHOUSE_SOURCE, ApplyWarehouseEvents
from common.service.faults import PoisonEvent, guard, mark_kept
from common.service.handlers.batch import EventBatch, EventResult, IngestReport, event_id_of, in_job, messages
from common.service.handlers.replenishment import after_warehouse_batch
from common.service.jobs import JobRecorder, job_run
from common.service.paging import every
from common.service.quarantine import quarantine
from common.service.retry import retry_conflicts
from common.service.unit_of_work import UnitOfWork

log = logging.getLogger("oms.warehouse")

JOB = "ingest-warehouse-events"
ORDER_ID = re.compile(ORDER_ID_PATTERN)
NOT_REFUSALS = frozenset({"store_unavailable", "conflict"})
SWEEP_PAGE = 500


def stock_partition(warehouse_id: str) -> str:
    """Where the idempotency marker of a `StockAdjusted` lives: it has no
    order. Project ids cannot hold '~', so this never meets a project."""
    return f"stock~{warehouse_id}"


def _partition(event: WarehouseEvent) -> str:
    return stock_partition(event.warehouse_id) if isinstance(event, StockAdjusted) else project_of(event.order_id)


def note_refusal(deps: Deps, raw: Any, reasons: list[Reason], actor: Actor) -> None:
    """A quarantined callback that names an existing order leaves its refusal
    on that order's audit trail (nothing else of the order changes). Written
    alone and best effort: a redelivered callback refused again has the same
    entry id (insert-only), and that must not stop anything else."""
    order_id = raw.get("order_id") if isinstance(raw, dict) else None
    if not isinstance(order_id, str) or not ORDER_ID.fullmatch(order_id):
        return
    if all(r.type in NOT_REFUSALS for r in reasons):
        return  # kept for later (the store was down, or kept changing): nothing about the callback itself
    try:
        order = deps.store.get_order(order_id)
        if order is None:
            return
        entry = refusal(order, action="warehouse_event", actor=actor, at=deps.clock.now(), reasons=reasons,
                        correlation_id=event_id_of(raw))
        deps.store.commit([PartitionChanges(partition=order.project_id, audit=[entry])])
    except Exception:
        log.warning("could not audit the refused callback for order %s", order_id, exc_info=True)


@dataclass
class _Pending:
    """An event decided in the current unit of work, settled once its
    partition is committed."""

    index: int
    event: WarehouseEvent
    result: EventResult
    created: int = 0


@dataclass
class _Applier:
    """Decides warehouse events inside one unit of work."""

    deps: Deps
    uow: UnitOfWork
    actor: Actor
    job_id: str | None = None
    projects: dict[str, Project | None] = field(default_factory=dict)
    held_results: list[EventResult] = field(default_factory=list)
    held_created: list[str] = field(default_factory=list)  # follow-up order ids

    def project(self, project_id: str) -> Project | None:
        if project_id not in self.projects:
            self.projects[project_id] = self.deps.store.get_projects([project_id]).get(project_id)
        return self.projects[project_id]

    def quarantine(self, payload: Any, reasons: list[Reason], *, event_id: str | None,
                   order_id: str | None = None) -> None:
        quarantine(self.deps, source=WAREHOUSE_SOURCE, payload=payload, reasons=reasons, job_id=self.job_id,
                   event_id=event_id, order_id=order_id,
                   project_id=project_of(order_id) if order_id else None)

    def take(self, decision: WarehouseDecision, state: StreamState) -> None:
        """The decision's effects (each with its stock effect) into the unit of work."""
        self.uow.add_all(decision.effects)
        if decision.stream_changed:
            self.uow.put_stream(state.stream)

    def decide(self, state: StreamState, order: Order, event: OrderEvent, *, may_hold: bool,
               actor: Actor | None = None) -> WarehouseDecision:
        return decide_order_event(state, order, event, policy=self.deps.settings.return_policy,
                                  project=self.project(order.project_id), at=self.deps.clock.now(),
                                  actor=actor or self.actor, may_hold=may_hold)

    # ------------------------------------------------------------ held events
    def catch_up(self, order: Order) -> Order:
        """Apply the events held on `order` that it can take now, quarantine
        those it never can; the rest keep waiting. Returns the order as it is
        after that (in the unit of work)."""
        state = self.uow.stream_state(order.stream)
        progress = True
        while progress and order.held_events:
            progress = False
            for held in list(order.held_events):
                event, problems = check_warehouse_event(held.payload)
                if event is None or isinstance(event, StockAdjusted) or event.order_id != order.order_id:
                    decision = refuse(order.order_id, *(problems or [Reason(
                        loc=[], msg="a held event must be an order event of this order", type="bad_hold")]))
                else:
                    decision = self.decide(state, unhold(order, held.event_id), event, may_hold=False,
                                           actor=held.actor)
                if decision.outcome == Outcome.PARKED:
                    continue  # still on its way
                if decision.refused:
                    order = self.drop(order, held, decision.problems)
                else:
                    self.take(decision, state)
                    order = decision.effects[0].order
                    if decision.follow_up_order_id:
                        self.held_created.append(decision.follow_up_order_id)
                    self.held_results.append(EventResult(held.event_id, Outcome.APPLIED, order.order_id,
                                                         ["held event applied", *decision.notes]))
                progress = True
                break  # the order changed: look at what it holds again
        return order

    def drop(self, order: Order, held: HeldEvent, problems: list[Reason]) -> Order:
        """Quarantine a held event and take it off its order."""
        self.quarantine(held.payload, problems, event_id=held.event_id, order_id=order.order_id)
        effect = drop_held(order, held, why="; ".join(messages(problems)), at=self.deps.clock.now(),
                           actor=SYSTEM)
        self.uow.add(effect)
        self.held_results.append(EventResult(held.event_id, Outcome.QUARANTINED, order.order_id,
                                             messages(problems)))
        return effect.order


class _Batch(EventBatch):
    """One batch of warehouse events on its way through the rules."""

    source = WAREHOUSE_SOURCE

    def __init__(self, deps: Deps, cmd: ApplyWarehouseEvents, recorder: JobRecorder) -> None:
        super().__init__(deps, cmd.events, recorder)
        self.cmd = cmd

    def reject(self, index: int, raw: Any, reasons: list[Reason], *, project_id: str | None = None,
               order_id: str | None = None) -> None:
        super().reject(index, raw, reasons, project_id=project_id, order_id=order_id)
        note_refusal(self.deps, raw, reasons, self.cmd.actor)

    def validate(self) -> list[tuple[int, WarehouseEvent]]:
        valid: list[tuple[int, WarehouseEvent]] = []
        # Typed here: inferred from the check alone, the events would be their common base class.
        checked: Iterator[tuple[int, Any, WarehouseEvent | None, list[Reason]]] = self.checked(check_warehouse_event)
        for index, raw, event, reasons in checked:
            if event is None:
                self.reject(index, raw, reasons)
            else:
                valid.append((index, event))
        return valid

    def apply(self, events: list[tuple[int, WarehouseEvent]]) -> None:
        """Decide, apply and commit; partitions that lose to a concurrent
        writer are re-read and decided again (stock effects are idempotent);
        what still loses after the last attempt is quarantined."""
        left = retry_conflicts(events, self._attempt, what="warehouse events")
        for index, event in left:
            self.reject(index, self.cmd.events[index], [Reason(
                loc=[], msg="the order kept changing under concurrent writers; reprocess to apply", type="conflict")],
                order_id=None if isinstance(event, StockAdjusted) else event.order_id)

    def _attempt(self, pending: Sequence[tuple[int, WarehouseEvent]]) -> list[tuple[int, WarehouseEvent]]:
        pending = list(pending)
        while True:
            self.recorder.step = "apply"
            uow = UnitOfWork(self.deps.store, self.deps.inventory)
            applier = _Applier(self.deps, uow, self.cmd.actor, self.recorder.run.job_id)
            try:
                decided = self._decide(applier, pending)
                break
            except PoisonEvent as poison:
                # Nothing of this unit of work is committed: decide the rest again without that event.
                event = next(e for i, e in pending if i == poison.index)
                self.poison(poison.index, poison.error,
                            order_id=None if isinstance(event, StockAdjusted) else event.order_id)
                pending = [(i, e) for i, e in pending if i != poison.index]
        self.recorder.step = "commit"
        result = uow.commit()
        retry = []
        for item in decided:
            if _partition(item.event) in result.conflicts:
                retry.append((item.index, item.event))
            else:
                self.settle(item.index, item.result)
                self.recorder.count("created", item.created)
        self._count_held(applier, result.conflicts)
        return retry

    def _count_held(self, applier: _Applier, conflicts: dict[str, Any]) -> None:
        done = [r for r in applier.held_results if r.order_id and project_of(r.order_id) not in conflicts]
        if done:
            self.recorder.count("held_applied", sum(r.outcome == Outcome.APPLIED for r in done))
            self.recorder.count("held_quarantined", sum(r.outcome == Outcome.QUARANTINED for r in done))
            self.recorder.count("created", sum(project_of(o) not in conflicts for o in applier.held_created))
            self.recorder.details.setdefault("held", []).extend(r.to_json() for r in done)

    def _decide(self, applier: _Applier, events: list[tuple[int, WarehouseEvent]]) -> list[_Pending]:
        store, uow = self.deps.store, applier.uow
        seen = store.existing_markers([(_partition(e), marker_id(WAREHOUSE_SOURCE, e.event_id)) for _, e in events])
        uow.orders([e.order_id for _, e in events if not isinstance(e, StockAdjusted)])
        in_batch: set[str] = set()
        out: list[_Pending] = []
        for index, event in events:
            if self.results[index] is not None:
                continue  # refused on an earlier pass (this batch was decided again after a poison event)
            mid = marker_id(WAREHOUSE_SOURCE, event.event_id)
            order_id = None if isinstance(event, StockAdjusted) else event.order_id
            replayed = mid in seen and event.event_id in self.cmd.replay and order_id is not None
            if (mid in seen and not replayed) or mid in in_batch:
                self.settle(index, EventResult(event.event_id, Outcome.SKIPPED_DUPLICATE, order_id,
                                               ["event was processed already"]))
                continue
            try:
                decided = (self._adjust(applier, index, event) if isinstance(event, StockAdjusted)
                           else self._order_event(applier, index, event))
            except Exception as error:
                raise guard(index, error) from error
            if decided is None:
                continue  # refused and quarantined: no marker, so reprocessing can apply it later
            in_batch.add(mid)
            if replayed:
                out.append(decided)  # its marker exists (insert-only): written once, when it was held
                continue
            uow.add_marker(Marker(marker_id=mid, project_id=_partition(event), source=WAREHOUSE_SOURCE,
                                  event_id=event.event_id, outcome=decided.result.outcome.value,
                                  at=self.deps.clock.now()))
            out.append(decided)
        return out

    def _order_event(self, applier: _Applier, index: int, event: OrderEvent) -> _Pending | None:
        order = applier.uow.order(event.order_id)
        if order is None:
            self.reject(index, self.cmd.events[index], [Reason(
                loc=["order_id"], msg=f"order {event.order_id} does not exist", type="unknown_order")],
                order_id=event.order_id)
            return None
        order = applier.catch_up(order)
        state = applier.uow.stream_state(order.stream)
        decision = applier.decide(state, order, event, may_hold=True)
        if decision.refused:
            self.reject(index, self.cmd.events[index], decision.problems, order_id=event.order_id)
            return None
        applier.take(decision, state)
        return _Pending(index, event, EventResult(event.event_id, decision.outcome, order.order_id, decision.notes),
                        created=1 if decision.follow_up_order_id else 0)

    def _adjust(self, applier: _Applier, index: int, event: StockAdjusted) -> _Pending | None:
        rows = self.deps.inventory.stock(event.warehouse_id)
        problems = adjustment_problems(
            event, next((r for r in rows if r.sku == event.sku), None),
            sku_known=event.sku in self.deps.store.get_catalog([event.sku]),
            warehouse_known=bool(rows) or event.warehouse_id in self.deps.settings.warehouses)
        if problems:
            self.reject(index, self.cmd.events[index], problems)
            return None
        applied = self.deps.inventory.adjust_on_hand(event.warehouse_id, event.sku, event.delta,
                                                     adjustment_id("stock", event.event_id))
        # False: a crash came between the adjustment and its marker last time.
        notes = [f"on-hand of {event.sku} in {event.warehouse_id} {event.delta:+d}"]
        if not applied:
            notes = ["the adjustment was applied already; its marker is written now"]
        return _Pending(index, event, EventResult(event.event_id, Outcome.APPLIED if applied
                                                  else Outcome.SKIPPED_DUPLICATE, None, notes))


def apply_warehouse_events(deps: Deps, cmd: ApplyWarehouseEvents,
                           recorder: JobRecorder | None = None) -> IngestReport:
    """One batch. Given a `recorder`, the batch is counted in that job run
    (a file of many batches is one job); otherwise it is a job run of its own."""
    return in_job(deps, JOB, cmd.channel, cmd.file_name, recorder, lambda job: _apply(deps, cmd, job))


def _apply(deps: Deps, cmd: ApplyWarehouseEvents, recorder: JobRecorder) -> IngestReport:
    batch = _Batch(deps, cmd, recorder)
    recorder.count("received", len(cmd.events))
    valid = batch.validate()
    try:
        batch.apply(valid)
    except Exception as error:  # the store is down beyond its retries: keep every event
        log.exception("could not store warehouse events")
        orders = {i: None if isinstance(e, StockAdjusted) else e.order_id for i, e in valid}
        batch.keep_unsettled(error, lambda index: {"order_id": orders.get(index)})
        mark_kept(error)
        raise
    after_warehouse_batch(deps, valid, batch.results, recorder.run.job_id)  # reorder thresholds, never raises
    return batch.report()


# ------------------------------------------------------------- held events

def apply_held_events(deps: Deps, order_ids: Sequence[str], actor: Actor | None = None) -> list[EventResult]:
    """Apply the warehouse events held on `order_ids` that the orders can take
    now (call it after moving orders, e.g. the allocation release step).
    Returns one result per held event applied or quarantined; an order still
    conflicting after the last attempt keeps its events for the next sweep."""
    results: list[EventResult] = []

    def attempt(pending: Sequence[str]) -> list[str]:
        uow = UnitOfWork(deps.store, deps.inventory)
        applier = _Applier(deps, uow, actor or SYSTEM)
        for order in uow.orders(pending).values():
            if order.held_events:
                applier.catch_up(order)
        conflicts = uow.commit().conflicts
        results.extend(r for r in applier.held_results if r.order_id and project_of(r.order_id) not in conflicts)
        return [o for o in pending if project_of(o) in conflicts]

    retry_conflicts(list(dict.fromkeys(order_ids)), attempt, what="held warehouse events")
    return results


def sweep_held_events(deps: Deps) -> list[EventResult]:
    """Apply what held events can be applied, and quarantine those held longer
    than `OMS_HOLD_MINUTES` (one job run)."""
    limit = timedelta(minutes=deps.settings.hold_minutes)
    results: list[EventResult] = []
    with job_run(deps, "sweep-held-warehouse-events", "sweep") as recorder:
        for status in OrderStatus:
            holding: list[str] = []
            pages = every(lambda token, s=status: deps.store.query_orders(  # type: ignore[misc]
                OrderQuery(status=s.value, limit=SWEEP_PAGE, continuation=token)))
            for order in pages:
                if order.held_events:
                    holding.append(order.order_id)
                if len(holding) >= SWEEP_PAGE:
                    results.extend(_sweep_orders(deps, holding, limit, recorder.run.job_id))
                    holding = []
            if holding:
                results.extend(_sweep_orders(deps, holding, limit, recorder.run.job_id))
        recorder.count("held_applied", sum(r.outcome == Outcome.APPLIED for r in results))
        recorder.count("quarantined", sum(r.outcome == Outcome.QUARANTINED for r in results))
        recorder.details["results"] = [r.to_json() for r in results]
    return results


def _sweep_orders(deps: Deps, order_ids: list[str], limit: timedelta, job_id: str) -> list[EventResult]:
    uow = UnitOfWork(deps.store, deps.inventory)
    applier = _Applier(deps, uow, SYSTEM, job_id)
    now = deps.clock.now()
    for order in uow.orders(order_ids).values():
        order = applier.catch_up(order)
        for held in list(order.held_events):
            if held.held_at + limit <= now:
                waited = int((now - held.held_at).total_seconds() // 60)
                order = applier.drop(order, held, [Reason(
                    loc=["order_id"], type="hold_expired",
                    msg=(f"held {waited} minutes (limit {deps.settings.hold_minutes:g}) and order {order.order_id} "
                         f"is still {order.status.value}: {held.reason}"))])
    conflicts = uow.commit().conflicts  # a conflicting order is looked at again by the next sweep
    return [r for r in applier.held_results if r.order_id and project_of(r.order_id) not in conflicts]
