"""Allocation runs (DESIGN.md section 3): reconcile, rank, solve, reserve,
allocate, release; one job run with a report that names every order's outcome.

Order of writes, and why it is crash-safe: the verb `orders.allocate` carries
the order's reservation as its stock effect, and the unit of work reserves it
first (idempotent per order; a chunk's reservations in one inventory
transaction), then moves the order Approved -> Allocated -> Released in one
atomic write (the order once, with both audit entries and both outbox events,
`allocated` then `ReleaseRequested`). A crash between the two leaves a
reservation whose order is still Approved; an older run may have left an
Allocated order; the next run starts by reconciling: it completes the first
(the stock was reserved for that exact content) or gives the stock back when
the order changed in between, and releases every Allocated order. So every
order ends Allocated or Released with its reservation, or Approved without one.

Overlapping runs cannot reserve a unit twice: a reservation exists at most
once per order, and the order write carries the ETag it was read with, so
only one run moves it; the loser leaves the reservation to the order's winner.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from common.domain import orders as verbs
from common.domain.allocation import Demand, Solution, compare, greedy, optimal
from common.domain.effects import Effect
from common.domain.eligibility import AllocationRules, Clearance, warehouse_of
from common.domain.errors import InvalidInput, RunInProgress
from common.domain.models import CatalogItem, JobRun, Order, OrderStatus, Project, Reservation, Stream
from common.domain.ranking import RankingPolicy, class_indexes, excluded, priority_class, rank
from common.domain.stock import holds_reservation
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import EvaluateReplenishment, RunAllocation
from common.service.handlers.replenishment import replenish_after
from common.service.handlers.warehouse import apply_held_events
from common.service.jobs import JobRecorder, job_run, new_job_id
from common.service.leases import Lease, leased
from common.service.paging import every
from common.service.retry import retry_conflicts
from common.service.unit_of_work import StockRefusal, UnitOfWork, reserve_ahead

log = logging.getLogger("oms.allocation")

JOB = "allocation"
MODES = ("greedy", "optimal")
PAGE = 1000  # orders per query page
# Orders per commit (one transaction each on SQLite), and reservations per
# inventory transaction. A commit of a large run rewrites index entries spread
# over the whole of the orders' time indexes (updated, entered), each of
# their pages written once per commit: a 100k run wrote 2.3 GB at 1,000
# orders a commit, 1.6 GB at 5,000, 1.4 GB at 10,000; 5,000 holds the write
# lock for about a second.
CHUNK = 5000
COMPARISON_IDS_SHOWN = 200

Outcome = Literal["allocated", "short", "rejected", "skipped"]


# ------------------------------------------------------------------- report
class ShortLine(BaseModel):
    sku: str
    needed: int
    available: int


class OrderOutcome(BaseModel):
    order_id: str
    rank: int | None = None
    outcome: Outcome
    reason: str | None = None
    detail: str | None = None
    shortfall: list[ShortLine] = Field(default_factory=list)
    blocked_by: list[str] = Field(default_factory=list)


class AllocationRunReport(BaseModel):
    """CONTRACT.md, Allocation run resource (plus the solver's figures)."""

    run_id: str
    mode: str
    dry_run: bool
    status: str = "running"  # running | succeeded | failed
    started_at: datetime
    ended_at: datetime | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    orders: list[OrderOutcome] = Field(default_factory=list)
    solver: dict[str, Any] = Field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    reconciled: dict[str, list[str]] = Field(default_factory=dict)
    released: list[str] = Field(default_factory=list)
    error: dict[str, Any] | None = None


# ------------------------------------------------------------------ helpers
def ranking_policy(deps: Deps) -> RankingPolicy:
    s = deps.settings
    return RankingPolicy(keys=tuple(s.allocation_rank_keys), gated_policy=s.allocation_gated_policy,
                         plan_type_ranks=dict(s.allocation_plan_type_ranks),
                         order_type_ranks=dict(s.allocation_order_type_ranks))


def allocation_rules(deps: Deps) -> AllocationRules:
    s = deps.settings
    return AllocationRules(qualifying=deps.policy, ranking=ranking_policy(deps),
                           clearance=Clearance(s.require_clearance), max_short_runs=s.allocation_max_short_runs,
                           gated_exclude_hours=s.allocation_gated_exclude_hours, optimal_gap=s.allocation_optimal_gap)


def _orders_in(deps: Deps, status: OrderStatus) -> list[Order]:
    return list(every(lambda token: deps.store.query_orders(
        OrderQuery(status=status.value, limit=PAGE, continuation=token))))


def _chunks(items: Sequence[Any], size: int | None = None) -> Iterator[Sequence[Any]]:
    size = size or CHUNK  # read when called (tests and benches set CHUNK)
    for start in range(0, len(items), size):
        yield items[start:start + size]


@dataclass
class _Plan:
    """What the run decided for one order, before it is written."""

    order: Order
    outcome: OrderOutcome
    action: Literal["allocate", "short", "reject", "none"]
    warehouse: str | None = None
    reservation: Reservation | None = None  # an interrupted run's, which this one completes
    held: Reservation | None = None  # this run's, reserved ahead in rank order (apply)
    seen: dict[str, int] = field(default_factory=dict)  # short: on hand per SKU of its lines


# ----------------------------------------------------------------- planning
@dataclass
class PlanInputs:
    """What a plan is made of: the candidates and the data they are checked
    and solved against. A what-if (common/service/handlers/whatif.py) changes
    these, and only these, before planning."""

    candidates: list[Order]
    projects: dict[str, Project]
    catalog: dict[str, CatalogItem]
    streams: dict[str, Stream]
    stock: dict[tuple[str, str], int]  # available per (warehouse, SKU)
    on_hand: dict[tuple[str, str], int]
    held: dict[str, Reservation] | None = None  # dry runs: what an interrupted run reserved


@dataclass
class Planned:
    plans: list[_Plan]
    solution: Solution
    solver: dict[str, Any]
    comparison: dict[str, Any] | None = None


def load_plan_inputs(deps: Deps, candidates: list[Order], *, dry_run: bool) -> PlanInputs:
    store = deps.store
    rows = deps.inventory.stock()
    return PlanInputs(
        candidates=candidates,
        projects=store.get_projects(list({o.project_id for o in candidates})),
        catalog=store.get_catalog(list({line.sku for o in candidates for line in o.lines})),
        streams=store.get_streams(list({o.stream_id for o in candidates})),
        stock={(r.warehouse_id, r.sku): r.available for r in rows},
        on_hand={(r.warehouse_id, r.sku): r.on_hand for r in rows},
        held={r.order_id: r for r in deps.inventory.reservations()} if dry_run else None)


def plan_orders(inputs: PlanInputs, rules: AllocationRules, mode: str, now: datetime, *, optimal_seconds: float,
                on_step: Callable[[str], None] = lambda step: None) -> Planned:
    """Validate, rank and solve: what a run decides for every candidate,
    before anything is written. Reads nothing: runs, dry runs and what-ifs
    all plan here."""
    on_step("validate")
    projects, candidates, stock = inputs.projects, inputs.candidates, inputs.stock
    plans: list[_Plan] = []
    eligible: list[Order] = []
    if inputs.held is not None:  # a real run would first complete what an interrupted run reserved
        held = inputs.held
        completing = {o.order_id for o in candidates
                      if o.order_id in held and holds_reservation(held[o.order_id], o)}
        plans.extend(_Plan(o, OrderOutcome(order_id=o.order_id, outcome="allocated",
                                           reason="completes_interrupted_run"), "allocate")
                     for o in candidates if o.order_id in completing)
        candidates = [o for o in candidates if o.order_id not in completing]
    for order in candidates:
        why = rules.why_not(order, projects.get(order.project_id), inputs.catalog, inputs.streams.get(order.stream_id),
                            stock, now)
        if why is not None:
            code, detail = why
            plans.append(_Plan(order, OrderOutcome(order_id=order.order_id, outcome="rejected", reason=code,
                                                   detail=detail), "reject"))
        elif excluded(order, rules.ranking):
            plans.append(_Plan(order, OrderOutcome(
                order_id=order.order_id, outcome="skipped", reason="gated_excluded",
                detail="gated orders take no stock under the exclude policy"), "none"))
        else:
            eligible.append(order)

    on_step("solve")
    ranked = rank(eligible, rules.ranking)
    classes = class_indexes([priority_class(o, rules.ranking) for o in ranked])
    warehouses = [warehouse_of(o, projects.get(o.project_id)) for o in ranked]
    demands = [Demand(o.order_id, w or "", o.quantities(), c) for o, w, c in zip(ranked, warehouses, classes,
                                                                                 strict=True)]
    solution, comparison = _solve(demands, stock, mode, optimal_seconds, rules.optimal_gap)
    max_short = rules.max_short_runs
    on_hand = inputs.on_hand
    for order, warehouse, verdict in zip(ranked, warehouses, solution.verdicts, strict=True):
        if verdict.allocated:
            plans.append(_Plan(order, OrderOutcome(order_id=order.order_id, rank=verdict.rank, outcome="allocated"),
                               "allocate", warehouse))
            continue
        # Each outcome made whole at once (not made allocated, then changed field by field).
        shortfall = [ShortLine(sku=s.sku, needed=s.needed, available=s.available) for s in verdict.shortfall]
        seen = {line.sku: on_hand.get((warehouse or "", line.sku), 0) for line in order.lines}
        if rules.too_often_short(order, seen):
            plans.append(_Plan(order, OrderOutcome(
                order_id=order.order_id, rank=verdict.rank, outcome="rejected", reason="insufficient_inventory",
                detail=f"short of stock for {order.short_runs + 1} runs (limit {max_short})",
                shortfall=shortfall, blocked_by=verdict.blocked_by), "reject"))
        elif rules.counts_as_short(order, seen):
            plans.append(_Plan(order, OrderOutcome(
                order_id=order.order_id, rank=verdict.rank, outcome="short", reason="insufficient_stock",
                detail=f"short run {order.short_runs + 1} of {max_short}", shortfall=shortfall,
                blocked_by=verdict.blocked_by), "short", seen=seen))
        else:
            plans.append(_Plan(order, OrderOutcome(
                order_id=order.order_id, rank=verdict.rank, outcome="short", reason="insufficient_stock",
                detail=(f"short on the same stock as its last short run: not counted again "
                        f"({order.short_runs} of {max_short})"), shortfall=shortfall,
                blocked_by=verdict.blocked_by), "none"))
    solver = {"mode": solution.mode, "status": solution.status, "gap": solution.gap,
              "solve_seconds": round(solution.solve_seconds, 6), "weight": list(solution.weight),
              "classes": list(solution.classes), "weight_score": str(solution.weight_score),
              "levels": solution.levels}
    return Planned(plans, solution, solver, comparison)


def _solve(demands: list[Demand], stock: dict[tuple[str, str], int], mode: str,
           optimal_seconds: float, optimal_gap: float = 0.0) -> tuple[Solution, dict[str, Any] | None]:
    base = greedy(demands, stock)
    if mode != "optimal":
        return base, None
    solution = optimal(demands, stock, time_limit=optimal_seconds, gap=optimal_gap)
    comparison = compare(base, solution)
    for key in ("gained", "displaced"):
        ids = comparison[key]
        comparison[f"{key}_count"] = len(ids)
        comparison[key] = ids[:COMPARISON_IDS_SHOWN]
    return solution, comparison


class _Run:
    def __init__(self, deps: Deps, cmd: RunAllocation, recorder: JobRecorder, lease: Lease | None = None) -> None:
        self.deps = deps
        self.lease = lease
        self.cmd = cmd
        self.recorder = recorder
        self.run_id = recorder.run.job_id
        self.now = deps.clock.now()
        self.inventory = deps.inventory
        self.rules = allocation_rules(deps)
        self.report = AllocationRunReport(run_id=self.run_id, mode=cmd.mode, dry_run=cmd.dry_run,
                                          started_at=recorder.run.started_at)
        # Orders allocated and released in one write by this run (whether they hold held warehouse events).
        self.released_now: dict[str, bool] = {}

    def _uow(self) -> UnitOfWork:
        if self.lease is not None:
            self.lease.renew()  # before each write: a run whose lease was taken over stops here
        return UnitOfWork(self.deps.store, self.inventory)

    def _clock(self) -> datetime:
        """Each write is stamped with its own time (the run's start time on
        every entry made a later release look older than its allocation)."""
        return self.deps.clock.now()

    # -------------------------------------------------------- reconciliation
    def reconcile(self) -> None:
        """Finish or undo what an earlier run left half done: a reservation
        whose order is still Approved for that content is completed (Allocated),
        any other reservation of an order that is not Allocated or Released
        goes back."""
        self.recorder.step = "reconcile"
        released: list[str] = []
        reservations = self.inventory.reservations()
        orders = self.deps.store.get_orders([r.order_id for r in reservations])
        completing: list[_Plan] = []
        for reservation in reservations:
            order = orders.get(reservation.order_id)
            if order is not None and order.status in (OrderStatus.ALLOCATED, OrderStatus.RELEASED):
                continue
            if order is not None and order.status == OrderStatus.APPROVED and holds_reservation(reservation, order):
                completing.append(_Plan(order, OrderOutcome(order_id=order.order_id, outcome="allocated",
                                                            reason="completes_interrupted_run"), "allocate",
                                        reservation.warehouse_id, reservation))
            elif self.inventory.release_reservation(reservation.order_id):
                released.append(reservation.order_id)
        self.apply(completing)
        completed = [p.order.order_id for p in completing if p.action == "allocate"]
        self.report.reconciled = {"completed": completed, "released": released}
        self.recorder.count("reconciled_completed", len(completed))
        self.recorder.count("reconciled_released", len(released))

    # ----------------------------------------------------------------- plan
    def plan(self) -> list[_Plan]:
        self.recorder.step = "load"
        candidates = _orders_in(self.deps, OrderStatus.APPROVED)
        self.recorder.count("considered", len(candidates))
        inputs = load_plan_inputs(self.deps, candidates, dry_run=self.cmd.dry_run)
        planned = plan_orders(inputs, self.rules, self.cmd.mode, self.now,
                              optimal_seconds=self.deps.settings.allocation_optimal_seconds,
                              on_step=lambda step: setattr(self.recorder, "step", step))
        self.report.solver, self.report.comparison = planned.solver, planned.comparison
        return planned.plans

    # ----------------------------------------------------------------- apply
    def _effect(self, plan: _Plan) -> Effect | None:
        order, outcome, actor = plan.order, plan.outcome, self.cmd.actor
        if plan.action == "allocate":
            note = "completes the allocation of an interrupted run" if plan.reservation is not None else None
            return verbs.allocate(order, warehouse_id=plan.warehouse or order.warehouse_id or "", run_id=self.run_id,
                                  actor=actor, at=self._clock(), note=note, reservation=plan.reservation or plan.held)
        if plan.action == "reject":
            return verbs.allocation_reject(order, code=outcome.reason or "rejected", detail=outcome.detail or "",
                                           run_id=self.run_id, actor=actor, at=self._clock())
        if plan.action == "short":
            return verbs.short(order, shortfall=[{"sku": s.sku, "needed": s.needed, "available": s.available}
                                                 for s in outcome.shortfall], seen=plan.seen,
                               run_id=self.run_id, actor=actor, at=self._clock())
        return None

    def apply(self, plans: list[_Plan]) -> None:
        """The plans' writes: first the stock of every order allocated,
        reserved in rank order (`_reserve_ahead`), then the orders, a chunk
        per unit of work, in order id order: each commit's orders, audit
        entries and outbox events then sit side by side in the store's
        tables and indexes (in rank order, a chunk of a large run touched a
        page of every table and index per order)."""
        self.recorder.step = "allocate"
        pending = [p for p in plans if p.action != "none"]
        self._reserve_ahead(pending)
        pending = sorted((p for p in pending if p.action != "none"), key=lambda p: p.order.order_id)
        for chunk in _chunks(pending):
            for plan in retry_conflicts(chunk, self._apply_chunk, what="allocation writes"):
                self._skip(plan, "changed_during_run")

    def _reserve_ahead(self, plans: list[_Plan]) -> None:
        """Reserve the stock of the orders to allocate in the solver's rank
        order, a chunk per inventory transaction, before any of them is
        written: should the stock have changed since the run read it, the
        orders ranked first keep theirs, as when each chunk reserved and wrote
        in turn. A refused reservation leaves its order unwritten
        (`_refused`); a crash before the writes leaves reservations of
        Approved orders, which the next run completes (`reconcile`)."""
        wanted = [p for p in plans if p.action == "allocate" and p.reservation is None]
        for chunk in _chunks(wanted):
            if self.lease is not None:
                self.lease.renew()
            by_order = {p.order.order_id: p for p in chunk}
            held, refused = reserve_ahead(self.inventory, [
                verbs.reservation_for(p.order, warehouse_id=p.warehouse or p.order.warehouse_id or "",
                                      run_id=self.run_id, at=self._clock()) for p in chunk])
            for reservation in held:
                by_order[reservation.order_id].held = reservation
            for order_id, refusal in refused.items():
                self._refused(by_order[order_id], refusal)

    def _apply_chunk(self, chunk: Sequence[_Plan]) -> list[_Plan]:
        """One attempt: the chunk's effects in one unit of work (which reserves
        each allocated order's stock first); returns the plans to try again
        on a fresh read (their partition lost to a concurrent writer, but
        their order did not change)."""
        uow = self._uow()
        uow.adopt_orders(plan.order for plan in chunk)
        uow.adopt_reservations(plan.held for plan in chunk if plan.held is not None)
        written: list[_Plan] = []
        for plan in chunk:
            effect = self._effect(plan)
            if effect is not None:
                uow.add(effect)
                written.append(plan)
                if effect.stock.reserve is not None and not self.cmd.dry_run:
                    uow.add(self._release(effect.order, effect.stock.reserve))
        result = uow.commit()
        retry: list[_Plan] = []
        for plan in written:
            refused = result.refused.get(plan.order.order_id)
            if refused is not None:
                self._refused(plan, refused)
            elif plan.order.project_id not in result.conflicts:
                if plan.action == "allocate" and not self.cmd.dry_run:
                    self.released_now[plan.order.order_id] = bool(plan.order.held_events)
            elif plan.order.project_id in result.conflicts:
                fresh = self.deps.store.get_order(plan.order.order_id)
                if fresh is not None and fresh.status == OrderStatus.APPROVED and fresh.version == plan.order.version:
                    plan.order = fresh  # only a neighbour in its partition changed: try again
                    plan.held = None  # given back with the lost write: the retry reserves again
                    retry.append(plan)
                elif fresh is not None and fresh.status in (OrderStatus.ALLOCATED, OrderStatus.RELEASED):
                    self._skip(plan, "allocated_by_concurrent_run")
                else:
                    self._skip(plan, "changed_during_run")
        return retry

    def _release(self, order: Order, reservation: Reservation) -> Effect:
        """Allocated -> Released, in the same write as the allocation (one
        order write, not two): the reservation as the inventory keeps it."""
        reserved = {sku: qty for sku, qty in sorted(reservation.lines.items()) if qty}
        return verbs.release(order, reserved=reserved, run_id=self.run_id, actor=self.cmd.actor, at=self._clock())

    def _refused(self, plan: _Plan, refused: StockRefusal) -> None:
        """The reservation was refused: the stock changed since the run read
        it (short), or another run holds the order's reservation (skipped)."""
        if refused.shortfall:
            # Taken by another writer while this run planned: competition, not
            # new stock, so not a counted short run (and nothing is written).
            plan.action = "none"
            plan.outcome.outcome, plan.outcome.reason = "short", "insufficient_stock"
            plan.outcome.detail = "stock changed during the run (not counted as a short run)"
            plan.outcome.shortfall = [ShortLine(**s) for s in refused.shortfall]
            return
        plan.action = "none"
        plan.outcome.outcome, plan.outcome.reason = "skipped", "reserved_by_concurrent_run"
        plan.outcome.detail = f"run {refused.held_by or '?'} holds its reservation"

    def _skip(self, plan: _Plan, reason: str) -> None:
        """The order was not written by this run (the unit of work gave back
        what it reserved for it)."""
        plan.action = "none"
        plan.outcome.outcome, plan.outcome.reason = "skipped", reason
        plan.outcome.shortfall, plan.outcome.blocked_by = [], []

    # --------------------------------------------------------------- release
    def release(self, plans: list[_Plan]) -> None:
        """Every Allocated order that holds its reservation goes to the
        warehouse: Released, with `ReleaseRequested`. The run's own
        allocations went in the write that allocated them; these are the
        orders an earlier run left Allocated."""
        self.recorder.step = "release"
        if self.cmd.dry_run:
            self.report.released = [p.order.order_id for p in plans if p.action == "allocate"]
            return
        allocated = _orders_in(self.deps, OrderStatus.ALLOCATED)
        # One read of the reservations, not one per order: one that goes back
        # meanwhile goes with a write to its order, which then fails its ETag.
        reservations = {r.order_id: r for r in self.inventory.reservations()} if allocated else {}
        released: list[str] = []
        missing: list[str] = []
        for chunk in _chunks(allocated):
            uow = self._uow()
            uow.adopt_orders(chunk)
            batch = []
            for order in chunk:
                held = reservations.get(order.order_id)
                if held is None or not holds_reservation(held, order):
                    missing.append(order.order_id)
                    continue
                uow.add(verbs.release(order, reserved=held.lines, run_id=self.run_id, actor=self.cmd.actor,
                                      at=self._clock()))
                batch.append(order)
            result = uow.commit()
            released.extend(o.order_id for o in batch if o.project_id not in result.conflicts)
        if missing:
            log.warning("allocated orders without their reservation, not released: %s", missing[:20])
            self.report.reconciled["allocated_without_reservation"] = missing
        self.report.released = sorted([*self.released_now, *released])
        # Warehouse events that arrived before the release (held on the order)
        # can be applied now.
        done = set(released)
        waiting = sorted([o.order_id for o in allocated if o.held_events and o.order_id in done]
                         + [oid for oid, held in self.released_now.items() if held])
        if waiting:
            self.recorder.count("held_applied", len(apply_held_events(self.deps, waiting, self.cmd.actor)))

    # ----------------------------------------------------------------- finish
    def finish(self, plans: list[_Plan]) -> AllocationRunReport:
        ranked = sorted(plans, key=lambda p: (p.outcome.rank is None, p.outcome.rank or 0, p.order.order_id))
        self.report.orders = [p.outcome for p in ranked]
        for name in ("allocated", "short", "rejected", "skipped"):
            self.recorder.count(name, sum(1 for p in plans if p.outcome.outcome == name))
        self.recorder.count("released", len(self.report.released))
        self.report.counts = dict(self.recorder.counts)
        self.recorder.details["report"] = store_report(self.deps, self.report)
        return self.report


# ------------------------------------------------------------------ handlers
def run_allocation(deps: Deps, cmd: RunAllocation) -> AllocationRunReport:
    """One allocation run; the report is also stored with the job run
    (`get_allocation_run`). One run at a time: a run holds the `allocation`
    lease (common.service.leases) from before it reads until it is done; a
    second run waits up to `cmd.wait_seconds` for it, then is refused with
    RunInProgress naming the running run. A dry run changes nothing and
    takes no lease."""
    if cmd.mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {cmd.mode!r}")
    source = f"{cmd.trigger}:{cmd.mode}{':dry-run' if cmd.dry_run else ''}"
    run_id = new_job_id(JOB)
    if cmd.dry_run:
        return _run(deps, cmd, source, run_id, None)
    with leased(deps, JOB, run_id, seconds=deps.settings.allocation_lease_seconds, wait=cmd.wait_seconds,
                what="allocation run") as lease:
        return _run(deps, cmd, source, run_id, lease)


def run_scheduled_allocation(deps: Deps, cmd: RunAllocation) -> AllocationRunReport | None:
    """A scheduled run: when another run holds the lease it is skipped (the
    next tick tries again), not failed and retried."""
    try:
        return run_allocation(deps, cmd)
    except RunInProgress as busy:
        log.warning("scheduled allocation run skipped: %s", busy.message)
        return None


_paused = 0  # runs under way with the collector paused (dry runs may overlap a run)
_paused_lock = threading.Lock()
_collector_was_on = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector does not run while runs are under way.
    A run holds every candidate order (a 100k run, some three million objects)
    and makes millions of short-lived ones, so the collector kept going
    through the candidates: a fifth of a 100k run's CPU time (bench:
    collections per generation). A run leaves no cyclic garbage behind (what
    it drops goes by reference counting: a collection after a 100k run finds
    nothing), and the collector is as it was once the last run is done."""
    global _paused, _collector_was_on
    with _paused_lock:
        if _paused == 0:
            _collector_was_on = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _paused_lock:
            _paused -= 1
            if _paused == 0 and _collector_was_on:
                gc.enable()


def _run(deps: Deps, cmd: RunAllocation, source: str, run_id: str, lease: Lease | None) -> AllocationRunReport:
    with collector_paused():
        return _run_paused(deps, cmd, source, run_id, lease)


def _run_paused(deps: Deps, cmd: RunAllocation, source: str, run_id: str, lease: Lease | None) -> AllocationRunReport:
    with job_run(deps, JOB, source, job_id=run_id) as recorder:
        run = _Run(deps, cmd, recorder, lease)
        if not cmd.dry_run:
            run.reconcile()
        plans = run.plan()
        if not cmd.dry_run:
            run.apply(plans)
        run.release(plans)
        report = run.finish(plans)
    report.status = recorder.run.status
    report.ended_at = recorder.run.ended_at
    report.counts = dict(recorder.run.counts)
    if not cmd.dry_run:  # reorder thresholds after the run's reservations and rejections; never raises
        replenish_after(deps, EvaluateReplenishment("allocation", correlation_id=run_id))
    return report


REPORTS_CONTAINER = "allocation-runs"
_OUTCOMES = TypeAdapter(list[OrderOutcome])
INLINE_ORDERS = 2000  # beyond this many orders the report is a blob: a Cosmos document holds at most 2 MB


def store_report(deps: Deps, report: AllocationRunReport) -> dict[str, Any]:
    """What the job run keeps of the report: all of it, or, for a large run
    with a blob store at hand, all but the per-order lines, which go to the
    `allocation-runs` container."""
    if len(report.orders) <= INLINE_ORDERS:
        return report.model_dump(mode="json")
    name = f"{report.run_id}.json"
    # The lines' JSON straight from the models (as model_dump(mode="json") then json.dumps read them).
    deps.blobs.write(REPORTS_CONTAINER, name, _OUTCOMES.dump_json(report.orders))
    data = report.model_dump(mode="json", exclude={"orders"})
    return {**{key: [] if key == "orders" else data[key] for key in AllocationRunReport.model_fields},
            "orders_blob": f"{REPORTS_CONTAINER}/{name}"}


def report_of(job: JobRun, deps: Deps | None = None) -> AllocationRunReport:
    stored = job.details.get("report")
    if stored is not None:
        blob = stored.get("orders_blob")
        if blob and deps is not None:
            container, name = blob.split("/", 1)
            stored = {**stored, "orders": json.loads(deps.blobs.read(container, name))}
        report = AllocationRunReport.model_validate({k: v for k, v in stored.items() if k != "orders_blob"})
    else:  # still running, or failed before the report was made
        parts = (job.source or "").split(":")
        report = AllocationRunReport(run_id=job.job_id, mode=parts[1] if len(parts) > 1 else "greedy",
                                     dry_run=parts[-1] == "dry-run", started_at=job.started_at)
    report.status = job.status
    report.ended_at = job.ended_at
    report.counts = dict(job.counts) or report.counts
    report.error = job.error
    return report


RUNS_SCANNED = 1000  # job runs looked at for the recent allocation runs (ingestion and sweeps run too)


def recent_allocation_runs(deps: Deps, limit: int = 20) -> list[AllocationRunReport]:
    """The last `limit` allocation runs, newest first, without the per-order
    lines a large run keeps in a blob (`get_allocation_run` has them)."""
    return [report_of(job) for job in deps.store.list_jobs(RUNS_SCANNED) if job.job == JOB][:limit]


def get_allocation_run(deps: Deps, run_id: str) -> AllocationRunReport | None:
    """The report of run `run_id` (its job run), or None when there is no such run."""
    job = deps.store.get_job(run_id)
    if job is None or job.job != JOB:
        return None
    return report_of(job, deps)
