"""Whether an order may take a step, beside the verbs in orders.py: the
checks approval demands, the four-eyes rule, engineering clearance, and what
makes an Approved order ineligible for allocation (back to Draft with a
reason) or too often short. Pure: callers hand in the reference data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from common.domain.bounds import line_reasons
from common.domain.models import Actor, CatalogItem, Order, Project, Reason, Stream
from common.domain.ranking import RankingPolicy, excluded
from common.domain.validation import QualifyingPolicy, sku_reasons


@dataclass(frozen=True)
class Clearance:
    """Engineering clearance (OMS_REQUIRE_CLEARANCE). Off: a stream is cleared
    unless its last feasibility update said no. On: only a positive
    feasibility update clears it (provisioning only after engineering
    clearance and inventory confirmation)."""

    required: bool = False

    def why_not(self, stream: Stream | None) -> str | None:
        if stream is not None and not stream.feasible:
            failed = [c.name for c in stream.checks if c.status.value != "passed"]
            return "the site is not feasible" + (f": {', '.join(failed)}" if failed else "")
        if self.required and (stream is None or stream.feasibility_at is None):
            return "engineering has not cleared the site yet (no feasibility update)"
        return None


def four_eyes(order: Order, actor: Actor, enabled: bool) -> Reason | None:
    """Who made the last change may not approve it (OMS_FOUR_EYES)."""
    if enabled and order.last_changed_by == actor.id:
        return Reason(loc=["actor"], type="four_eyes",
                      msg=f"four-eyes rule: {actor.id} made the last change to order {order.order_id} and may not "
                          "approve it; another approver must")
    return None


def approval_reasons(order: Order, project: Project | None, catalog: Mapping[str, CatalogItem],
                     stream: Stream | None, clearance: Clearance = Clearance()) -> list[Reason]:
    """Why `order` may not be approved (empty when it may)."""
    reasons: list[Reason] = []
    if not order.lines:
        reasons.append(Reason(loc=["lines"], msg="an order needs at least one line", type="too_short"))
    for index, line in enumerate(order.lines):
        if line.qty <= 0:
            reasons.append(Reason(loc=["lines", index, "qty"], msg="quantity must be positive",
                                  type="greater_than"))
    reasons.extend(line_reasons(order.lines))  # stored before the bounds held: not approvable
    reasons.extend(sku_reasons([(["lines", i, "sku"], line.sku) for i, line in enumerate(order.lines)],
                               catalog))
    if project is None or project.removed:
        reasons.append(Reason(loc=["project_id"], msg=f"project {order.project_id} is not in the project master",
                              type="unknown_project"))
    why = clearance.why_not(stream)
    if why is not None:
        reasons.append(Reason(loc=["feasibility"], msg=why,
                              type="not_feasible" if stream is not None and not stream.feasible else "not_cleared"))
    return reasons


@dataclass(frozen=True)
class AllocationRules:
    """What an allocation run holds Approved orders to."""

    qualifying: QualifyingPolicy
    ranking: RankingPolicy
    clearance: Clearance = Clearance()
    max_short_runs: int = 3
    gated_exclude_hours: float = 168
    optimal_gap: float = 0.0  # how far from proven the optimal mode may stop a class (common.domain.allocation)

    def why_not(self, order: Order, project: Project | None, catalog: Mapping[str, CatalogItem],
                stream: Stream | None, stock: Mapping[tuple[str, str], int], now: datetime) -> tuple[str, str] | None:
        """Why the order may not be allocated at all (code, detail): it goes
        back to Draft. None: it is a candidate."""
        why_not = self.qualifying.why_not(project) if project is not None else \
            f"project {order.project_id} is not in the project master"
        if why_not is not None:
            return "project_not_qualifying", why_not
        cleared = self.clearance.why_not(stream)
        if cleared is not None:
            failed = [c.name for c in stream.checks if c.status.value != "passed"] if stream is not None else []
            if stream is not None and not stream.feasible:
                return "not_feasible", "failed checks: " + (", ".join(failed) or "(none named)")
            return "not_cleared", cleared
        skus = order.quantities()  # once: every run asks this of every candidate
        bad = [sku for sku in skus if (item := catalog.get(sku)) is None or not item.active]
        if bad:
            return "inactive_sku", "SKU not active in the item catalogue: " + ", ".join(sorted(bad))
        warehouse = warehouse_of(order, project)
        if warehouse is None:
            return "no_stock_row", "the order has no warehouse"
        missing = [sku for sku in skus if (warehouse, sku) not in stock]
        if missing:
            return "no_stock_row", f"no stock row in {warehouse} for " + ", ".join(sorted(missing))
        if excluded(order, self.ranking):
            since = order.approved_at or order.status_since or order.updated_at
            limit = timedelta(hours=self.gated_exclude_hours)
            if now - since > limit:
                return "gated_excluded", f"gated and excluded for more than {limit.total_seconds() / 3600:g} h"
        return None

    @staticmethod
    def counts_as_short(order: Order, seen: Mapping[str, int]) -> bool:
        """A short run counts only when it saw stock that the order's last
        counted short run did not: `seen` is the on-hand quantity per SKU of
        the order's lines in its warehouse. On hand, not available: what
        other orders reserve in between is competition, not new stock, and
        back-to-back runs on the same stock must not spend the budget."""
        return dict(seen) != order.short_seen

    def too_often_short(self, order: Order, seen: Mapping[str, int]) -> bool:
        """Short once more, on new stock, would pass the limit: back to Draft,
        insufficient_inventory."""
        return self.counts_as_short(order, seen) and order.short_runs + 1 > self.max_short_runs


def warehouse_of(order: Order, project: Project | None) -> str | None:
    return order.warehouse_id or (project.warehouse_id if project is not None else None)
