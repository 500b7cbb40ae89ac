"""Replenishment in `oms simulate` (docs/replenishment.md): the run's
warehouses get a reorder policy per SKU (a `reorder-policy` Parquet dump
through the dataset handler), the supplier answers each open request with a
delivery (`StockAdjusted`, reason `replenishment`) once its lead time has
passed, and the closing checks say that no request was ever duplicated and
that every shortage is covered by an open request.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.domain.replenishment import ReplenishmentRequest, RequestStatus, partition_of
from common.service.bootstrap import Deps
from common.service.handlers.replenishment import positions, sweep_replenishment, watched_policies

POINT_SHARE = 0.4  # the reorder point: this share of the initial count
LEAD_DAYS = (1, 4)


@dataclass
class ReplenishmentSim:
    deps: Deps
    warehouses: tuple[str, ...]
    event_id: Callable[[str], str]
    delivered: dict[str, int] = field(default_factory=dict)  # request id -> units the supplier sent for it

    def policies(self, initial: dict[tuple[str, str], int], rng: random.Random) -> list[dict[str, Any]]:
        """One policy per (warehouse, SKU) of the run: reorder below 40% of the
        first count, back up to it, within one to four days (`rng` is the
        policies' own: the run's other choices stay as they were)."""
        return [{"warehouse_id": w, "sku": sku, "reorder_point": int(qty * POINT_SHARE),
                 "target_level": max(qty, int(qty * POINT_SHARE)), "lead_time_days": rng.randint(*LEAD_DAYS)}
                for (w, sku), qty in sorted(initial.items())]

    def _ours(self, status: str | None = None) -> list[ReplenishmentRequest]:
        return [r for w in self.warehouses for r in self.deps.store.replenishment_requests(warehouse_id=w,
                                                                                            status=status)]

    def deliveries(self, now: datetime, occurred_at: str) -> list[dict[str, Any]]:
        """A delivery for each open request whose lead time has passed: what
        it asks for beyond what was sent for it already (a raised request
        gets the rest)."""
        events = []
        for request in self._ours(RequestStatus.OPEN.value):
            missing = request.quantity - self.delivered.get(request.request_id, 0)
            if request.due_at > now or missing <= 0:
                continue
            self.delivered[request.request_id] = request.quantity
            events.append({"event_id": self.event_id("R"), "event_type": "StockAdjusted", "occurred_at": occurred_at,
                           "warehouse_id": request.warehouse_id, "sku": request.sku, "delta": missing,
                           "reason": "replenishment"})
        return events

    def check(self) -> tuple[dict[str, float], list[str]]:
        """The closing numbers, after a last evaluation (the timer's), and what must hold."""
        sweep_replenishment(self.deps)
        requests = self._ours()
        problems = []
        open_per_key = Counter(r.key for r in requests if r.status == RequestStatus.OPEN)
        problems += [f"{w}/{sku}: {n} open replenishment requests" for (w, sku), n in open_per_key.items() if n > 1]
        ours = tuple(partition_of(w) + "~" for w in self.warehouses)
        opened = Counter(e.subject for e in self.deps.store.outbox_events() if e.subject.startswith(ours)
                         and e.type == "oms.stock.replenishment_requested" and e.data.get("change") == "opened")
        problems += [f"{rid}: opened {n} times" for rid, n in opened.items() if n > 1]
        rows = [row for row in self.deps.inventory.stock() if row.warehouse_id in self.warehouses]
        policies = {k: p for k, p in watched_policies(self.deps, rows).items() if k[0] in self.warehouses}
        current = positions(self.deps, policies, rows)
        open_now = {r.key: r for r in requests if r.status == RequestStatus.OPEN}
        for key, policy in sorted(policies.items()):
            base = current[key].base
            if base >= policy.reorder_point:
                continue
            request = open_now.get(key)
            if request is None:
                problems.append(f"{key[0]}/{key[1]}: position {base} below the reorder point "
                                f"{policy.reorder_point} and no request open")
            elif request.quantity < policy.target - base:
                problems.append(f"{request.request_id}: {request.quantity} requested, {policy.target - base} needed")
        fulfilled = [r for r in requests if r.status == RequestStatus.FULFILLED]
        days = [(r.duration_seconds or 0) / 86_400 for r in fulfilled]
        summary: dict[str, float] = {
            "requested": len(requests), "fulfilled": len(fulfilled), "open": sum(open_per_key.values()),
            "raised": sum(r.version - 1 for r in requests if r.status == RequestStatus.OPEN)
            + sum(r.version - 2 for r in fulfilled),
            "deliveries": len(self.delivered), "units_delivered": sum(self.delivered.values()),
            "mean_days_to_fulfil": round(sum(days) / len(days), 2) if days else 0.0}
        return summary, problems
