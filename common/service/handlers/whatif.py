"""What-if allocation (DESIGN.md section 3, Allocation run): the real ranking
and solver over the current data plus overrides, compared with the plan of
the current data alone. Nothing is written: no order, reservation, job run,
lease or notification; the only calls to the store are reads.

Both plans are made by `allocation.plan_orders`, the function every run
plans with, from the inputs `allocation.load_plan_inputs` reads, so a
what-if answers what the next run would do: an order short today counts its
short runs, an interrupted run's reservation is completed first, invalid
orders go back to Draft. Overrides change only those inputs:

- `extra_stock`: units added to (or, negative, taken from) the available
  and on-hand stock of a (warehouse, SKU); a key without a stock row gets one;
- `projects`: a project's national priority, gated flag or plan type, on the
  project and on its candidate orders (open orders follow the master);
- `exclude_orders`: candidates left out;
- `force_approved`: Draft orders taken as Approved now (approved last by
  time; the allocation checks still apply).

A what-if takes no lease: it reads, and a run going on meanwhile only makes
it answer from the data as it was read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from common.domain.bounds import MAX_ON_HAND
from common.domain.eligibility import warehouse_of
from common.domain.errors import InvalidInput
from common.domain.models import Order, OrderStatus, Reason
from common.domain.ranking import priority_class
from common.service.bootstrap import Deps
from common.service.handlers.allocation import (
    MODES,
    OrderOutcome,
    PlanInputs,
    Planned,
    _orders_in,
    allocation_rules,
    load_plan_inputs,
    plan_orders,
)

LIST_LIMIT = 10_000  # overrides of one kind in one what-if
Ident = Annotated[str, Field(min_length=1, max_length=256)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StockOverride(_In):
    warehouse_id: Ident
    sku: Ident
    qty: StrictInt = Field(ge=-MAX_ON_HAND, le=MAX_ON_HAND, description="units added (negative: taken away)")


class ProjectOverride(_In):
    project_id: Ident
    national_priority: StrictInt | None = Field(None, ge=1, le=1000)
    gated: StrictBool | None = None
    plan_type: Annotated[str, Field(min_length=1, max_length=128)] | None = None


class WhatIf(_In):
    """A what-if: the plan of the current data with these overrides."""

    mode: Literal["greedy", "optimal"] = "greedy"
    extra_stock: list[StockOverride] = Field(default_factory=list, max_length=LIST_LIMIT)
    projects: list[ProjectOverride] = Field(default_factory=list, max_length=LIST_LIMIT)
    exclude_orders: list[Ident] = Field(default_factory=list, max_length=LIST_LIMIT)
    force_approved: list[Ident] = Field(default_factory=list, max_length=LIST_LIMIT)


class ClassWeight(BaseModel):
    """Orders allocated in one priority class (what the optimal mode weighs)."""

    national_priority: int | None
    gated: bool
    candidates: int
    allocated: int


class PlanView(BaseModel):
    counts: dict[str, int]
    allocated: list[str]
    weight: list[ClassWeight]
    solver: dict[str, Any]
    orders: list[OrderOutcome] = Field(default_factory=list)


class OutcomeChange(BaseModel):
    order_id: str
    baseline: str | None  # None: not a candidate without the overrides
    what_if: str | None  # None: not a candidate with them (excluded)
    reason: str | None = None


class WeightChange(BaseModel):
    national_priority: int | None
    gated: bool
    baseline: int
    what_if: int
    delta: int


class Difference(BaseModel):
    moved_in: list[str]  # allocated with the overrides, not without
    moved_out: list[str]  # allocated without the overrides, not with
    changed: list[OutcomeChange]  # every order whose outcome differs
    weight: list[WeightChange]


class WhatIfReport(BaseModel):
    mode: str
    as_of: datetime
    written: Literal[False] = False  # a what-if never writes
    overrides: WhatIf
    plan: PlanView
    baseline: PlanView
    difference: Difference
    notes: list[str] = Field(default_factory=list)


# ------------------------------------------------------------------ overrides
def _refuse(reasons: list[Reason]) -> None:
    if reasons:
        raise InvalidInput("the what-if names data that does not exist or cannot be overridden", reasons)


def _duplicates(values: Iterable[Any], loc: str) -> list[Reason]:
    seen: set[Any] = set()
    reasons = []
    for index, value in enumerate(values):
        if value in seen:
            reasons.append(Reason(loc=["body", loc, index], msg=f"{value} is named twice", type="duplicate"))
        seen.add(value)
    return reasons


def _checked(deps: Deps, what: WhatIf, candidates: Sequence[Order]) -> dict[str, Order]:
    """The orders the overrides name, read; every reason they cannot be used."""
    reasons = [*_duplicates(((s.warehouse_id, s.sku) for s in what.extra_stock), "extra_stock"),
               *_duplicates((p.project_id for p in what.projects), "projects"),
               *_duplicates(what.exclude_orders, "exclude_orders"),
               *_duplicates(what.force_approved, "force_approved")]
    for index, order_id in enumerate(what.force_approved):
        if order_id in what.exclude_orders:
            reasons.append(Reason(loc=["body", "force_approved", index], type="conflict",
                                  msg=f"order {order_id} is both excluded and forced Approved"))
    known = {o.order_id: o for o in candidates}
    named = [i for i in dict.fromkeys([*what.exclude_orders, *what.force_approved]) if i not in known]
    known.update(deps.store.get_orders(named) if named else {})
    for field, ids in (("exclude_orders", what.exclude_orders), ("force_approved", what.force_approved)):
        for index, order_id in enumerate(ids):
            order = known.get(order_id)
            if order is None:
                reasons.append(Reason(loc=["body", field, index], type="unknown_order",
                                      msg=f"order {order_id} does not exist"))
            elif field == "force_approved" and order.status not in (OrderStatus.DRAFT, OrderStatus.APPROVED):
                reasons.append(Reason(loc=["body", field, index], type="not_draft", msg=(
                    f"order {order_id} is {order.status.value}: only a Draft order can be taken as Approved")))
    projects = deps.store.get_projects([p.project_id for p in what.projects])
    for index, override in enumerate(what.projects):
        if override.project_id not in projects:
            reasons.append(Reason(loc=["body", "projects", index, "project_id"], type="unknown_project",
                                  msg=f"project {override.project_id} is not in the project master"))
    _refuse(reasons)
    return known


def _overridden(deps: Deps, what: WhatIf, base: PlanInputs, orders: dict[str, Order], now: datetime,
                notes: list[str]) -> PlanInputs:
    """The inputs with the overrides applied (`base` is left as it is)."""
    excluded = set(what.exclude_orders)
    candidates = [o for o in base.candidates if o.order_id not in excluded]
    notes += [f"order {i} is {orders[i].status.value}, not a candidate: excluding it changes nothing"
              for i in what.exclude_orders if orders[i].status != OrderStatus.APPROVED]
    present = {o.order_id for o in candidates}
    forced = []
    for order_id in what.force_approved:
        order = orders[order_id]
        if order.status == OrderStatus.APPROVED:
            notes.append(f"order {order_id} is Approved already")
            continue
        if order_id not in present:
            forced.append(order.model_copy(update={"status": OrderStatus.APPROVED, "approved_at": now,
                                                   "status_since": now}))
    extra = load_plan_inputs(deps, forced, dry_run=False) if forced else None
    projects = dict(base.projects) | (extra.projects if extra else {})
    changes: dict[str, dict[str, Any]] = {}
    for override in what.projects:
        update = override.model_dump(exclude={"project_id"}, exclude_none=True)
        changes[override.project_id] = update
        project = projects.get(override.project_id) or deps.store.get_projects([override.project_id])[
            override.project_id]
        projects[override.project_id] = project.model_copy(update=update)
    candidates = [o.model_copy(update=changes[o.project_id]) if o.project_id in changes else o
                  for o in [*candidates, *forced]]
    stock, on_hand = dict(base.stock), dict(base.on_hand)
    for item in what.extra_stock:
        key = (item.warehouse_id, item.sku)
        stock[key] = stock.get(key, 0) + item.qty
        on_hand[key] = on_hand.get(key, 0) + item.qty
    return PlanInputs(candidates=candidates, projects=projects,
                      catalog=dict(base.catalog) | (extra.catalog if extra else {}),
                      streams=dict(base.streams) | (extra.streams if extra else {}),
                      stock=stock, on_hand=on_hand, held=base.held)


# ------------------------------------------------------------------ reports
def _view(planned: Planned, candidates: Sequence[Order], deps: Deps, with_orders: bool) -> PlanView:
    policy = allocation_rules(deps).ranking
    outcomes = {p.order.order_id: p.outcome.outcome for p in planned.plans}
    per_class: dict[tuple[int, int], list[int]] = {}
    for order in candidates:
        counts = per_class.setdefault(priority_class(order, policy), [0, 0])
        counts[0] += 1
        counts[1] += outcomes.get(order.order_id) == "allocated"
    tally = Counter(outcomes.values())
    ordered = sorted(planned.plans, key=lambda p: (p.outcome.rank is None, p.outcome.rank or 0, p.order.order_id))
    return PlanView(
        counts={"considered": len(candidates), **{k: tally.get(k, 0) for k in ("allocated", "short", "rejected",
                                                                              "skipped")}},
        allocated=sorted(i for i, o in outcomes.items() if o == "allocated"),
        weight=[ClassWeight(national_priority=_priority(cls), gated=bool(cls[1]), candidates=n, allocated=a)
                for cls, (n, a) in sorted(per_class.items())],
        solver=planned.solver, orders=[p.outcome for p in ordered] if with_orders else [])


def _priority(cls: tuple[int, int]) -> int | None:
    return cls[0] if cls[0] < 10**9 else None  # ranking's "no priority" sorts last


def _difference(baseline: Planned, what_if: Planned, base_view: PlanView, view: PlanView) -> Difference:
    before = {p.order.order_id: p.outcome for p in baseline.plans}
    after = {p.order.order_id: p.outcome for p in what_if.plans}
    changed = [OutcomeChange(order_id=i, baseline=before[i].outcome if i in before else None,
                             what_if=after[i].outcome if i in after else None,
                             reason=(after[i].reason if i in after else "excluded"))
               for i in sorted(before.keys() | after.keys())
               if (before[i].outcome if i in before else None) != (after[i].outcome if i in after else None)]
    weights: dict[tuple[int | None, bool], list[int]] = {}
    for index, plan in enumerate((base_view, view)):
        for w in plan.weight:
            weights.setdefault((w.national_priority, w.gated), [0, 0])[index] += w.allocated
    return Difference(
        moved_in=sorted(set(view.allocated) - set(base_view.allocated)),
        moved_out=sorted(set(base_view.allocated) - set(view.allocated)),
        changed=changed,
        weight=[WeightChange(national_priority=p, gated=g, baseline=b, what_if=w, delta=w - b)
                for (p, g), (b, w) in sorted(weights.items(), key=lambda kv: (kv[0][0] is None, kv[0]))])


# ------------------------------------------------------------------ handler
def unblocked_by(deps: Deps, deliveries: Sequence[StockOverride], mode: str = "greedy") -> list[list[str]]:
    """For each delivery alone, the orders the next run would allocate with
    it and not without (the data is read once, the baseline planned once).
    Stock is per warehouse, so a delivery is planned with the candidates of
    its warehouse only: the others' outcomes cannot change."""
    if not deliveries:
        return []
    now = deps.clock.now()
    rules = allocation_rules(deps)
    seconds = deps.settings.allocation_optimal_seconds
    candidates = _orders_in(deps, OrderStatus.APPROVED)
    base_inputs = load_plan_inputs(deps, candidates, dry_run=True)
    before = {p.order.order_id for p in plan_orders(base_inputs, rules, mode, now, optimal_seconds=seconds).plans
              if p.outcome.outcome == "allocated"}
    by_warehouse: dict[str, list[Order]] = {}
    for order in candidates:
        warehouse = warehouse_of(order, base_inputs.projects.get(order.project_id)) or ""
        by_warehouse.setdefault(warehouse, []).append(order)
    out = []
    for delivery in deliveries:
        local = replace(base_inputs, candidates=by_warehouse.get(delivery.warehouse_id, []))
        inputs = _overridden(deps, WhatIf(extra_stock=[delivery]), local, {}, now, [])
        after = plan_orders(inputs, rules, mode, now, optimal_seconds=seconds)
        out.append(sorted(p.order.order_id for p in after.plans
                          if p.outcome.outcome == "allocated" and p.order.order_id not in before))
    return out


def run_what_if(deps: Deps, what: WhatIf) -> WhatIfReport:
    """The plan with the overrides, the plan without, and their difference.
    Raises InvalidInput (every reason, with its place in the request) when
    the overrides name what does not exist or cannot be overridden."""
    if what.mode not in MODES:  # the model allows only these; the CLI builds it too
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}")
    now = deps.clock.now()
    rules = allocation_rules(deps)
    seconds = deps.settings.allocation_optimal_seconds
    candidates = _orders_in(deps, OrderStatus.APPROVED)
    orders = _checked(deps, what, candidates)
    # A dry run's inputs: what an interrupted run reserved is completed first, as the next run would.
    base_inputs = load_plan_inputs(deps, candidates, dry_run=True)
    notes: list[str] = []
    inputs = _overridden(deps, what, base_inputs, orders, now, notes)
    baseline = plan_orders(base_inputs, rules, what.mode, now, optimal_seconds=seconds)
    planned = plan_orders(inputs, rules, what.mode, now, optimal_seconds=seconds)
    base_view = _view(baseline, base_inputs.candidates, deps, with_orders=False)
    view = _view(planned, inputs.candidates, deps, with_orders=True)
    return WhatIfReport(mode=what.mode, as_of=now, overrides=what, plan=view, baseline=base_view,
                        difference=_difference(baseline, planned, base_view, view), notes=notes)
