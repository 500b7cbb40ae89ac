"""`oms simulate`: a whole synthetic operation through the real handlers on
the embedded store, day by day on a FixedClock.

Day 0 loads the master data (projects, catalogue, stock: through the Parquet
handler when this build has it, else the JSON fixture loader and a stock
snapshot). Every day then brings design events (new designs, revisions,
schedule updates, redeliveries, stale and invalid events), reviews and
approvals, an allocation run that releases what it reserves, warehouse
completions, rejections, returns and restocks, a master-data update that
lets parked designs through, and the SLA sweep. The data stays in the store,
so `oms serve` shows it on the dashboard.

Every run has its own namespace on the store it runs on: a tag (`S<seed>`,
or `S<seed>R<n>` when the store holds that seed's run already) prefixes its
projects, warehouses and event ids, and its master and catalogue dumps
carry every row the store's snapshot held besides its own (a dump is the
whole master: a project missing from it would count as removed). So a simulation can run
on the store `scripts/run` filled with the samples, and again on the same
store, and leave each run consistent.

`check_invariants` is what the run must leave true: stock conserved, every
state change audited, no duplicate orders.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.adapters.clock import FixedClock
from common.domain.errors import DomainError
from common.domain.models import RETURNED_STATUSES, Actor, ActorType, Order, OrderStatus
from common.domain.sla import breaches_of
from common.ingest.schema import dataset as dataset_schema
from common.ingest.validate import KEY, row_keys
from common.ports import MAX_PAGE, InventoryStore, OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import (
    ApplyWarehouseEvents,
    ApproveOrder,
    CancelOrder,
    IngestEngineeringEvents,
    RunAllocation,
)
from common.service.handlers.allocation import run_allocation
from common.service.handlers.datasets import ingest_dataset_file, snapshots_of
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.review import approve_order, cancel_order
from common.service.handlers.sla import sweep_sla
from common.service.handlers.warehouse import apply_warehouse_events
from common.service.paging import all_quarantine, every
from common.simulate_replenishment import ReplenishmentSim

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WAREHOUSES = ("WH-EAST", "WH-WEST", "WH-CENTRAL")
MARKETS = (("New York", "Northeast"), ("Boston", "Northeast"), ("Chicago", "Midwest"), ("Dallas", "South"),
           ("Denver", "Mountain"), ("Seattle", "West"), ("Los Angeles", "West"), ("Atlanta", "Southeast"))
ORDER_TYPES = ("NewBuild", "Upgrade", "Modification", "Maintenance")
PLAN_TYPES = ("Coverage", "Capacity", "Program", "Expedite")
SKUS = ("ANT-4T4R-B41", "ANT-8T8R-N77", "RRU-B41-160W", "RRU-N77-320W", "BBU-5G-SA", "BBU-LTE", "CBL-HYB-30M",
        "CBL-HYB-60M", "CBL-FIB-50M", "MNT-PIPE-2M", "MNT-BRKT-3S", "PWR-RECT-48V", "PWR-BATT-100AH", "GPS-ANT",
        "SURGE-DC", "JMP-RF-3M", "CAB-OUTDOOR", "TMA-B41", "DIPLX-B2B4", "GND-KIT")
RETURN_REASONS = ("incorrect_allocation", "damaged", "technical_issue", "customer_cancellation", "design_change")
REJECT_REASONS = ("config_mismatch", "site_not_ready", "access_denied")
APPROVER = Actor(type=ActorType.USER, id="sim-approver")
EVENT_BATCH = 1000


@dataclass
class Summary:
    projects: int
    days: int
    seed: int
    tag: str = ""  # this run's namespace: its projects are <tag>-PRJ-…, its warehouses <tag>-WH-…
    seconds: float = 0.0
    events: Counter[str] = field(default_factory=Counter)  # inbound events sent, by channel
    outcomes: Counter[str] = field(default_factory=Counter)  # what the handlers answered
    approvals: Counter[str] = field(default_factory=Counter)
    allocation: Counter[str] = field(default_factory=Counter)
    candidates: set[str] = field(default_factory=set)
    allocated: set[str] = field(default_factory=set)
    orders_by_state: dict[str, int] = field(default_factory=dict)
    orders_by_kind: dict[str, int] = field(default_factory=dict)
    sla_flagged: int = 0
    sla_open: int = 0
    quarantine: dict[str, int] = field(default_factory=dict)
    notifications: Counter[str] = field(default_factory=Counter)
    master_loader: str = ""
    violations: list[str] = field(default_factory=list)
    replenishment: dict[str, float] = field(default_factory=dict)  # common/simulate_replenishment.py

    @property
    def fill_rate(self) -> float:
        return len(self.allocated & self.candidates) / len(self.candidates) if self.candidates else 0.0

    @property
    def events_per_second(self) -> float:
        return sum(self.events.values()) / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "projects": self.projects, "days": self.days, "seed": self.seed,
                "seconds": round(self.seconds, 2),
                "events": dict(self.events), "events_per_second": round(self.events_per_second, 1),
                "outcomes": dict(self.outcomes), "approvals": dict(self.approvals),
                "allocation": dict(self.allocation), "fill_rate": round(self.fill_rate, 4),
                "orders_by_state": self.orders_by_state, "orders_by_kind": self.orders_by_kind,
                "sla_flagged": self.sla_flagged, "sla_open": self.sla_open, "quarantine": self.quarantine,
                "notifications": dict(self.notifications), "master_loader": self.master_loader,
                "violations": self.violations, "replenishment": self.replenishment}


class CountingNotifier:
    """Counts what would have been sent: a simulated month of job mails
    would drown the log."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary

    def notify(self, subject: str, body: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        self.summary.notifications[level] += 1


@dataclass
class _Stream:
    project_id: str
    site_code: str
    order_type: str
    start_day: int
    version: int = 1
    items: list[dict[str, Any]] = field(default_factory=list)


class Simulation:
    def __init__(self, deps: Deps, projects: int, days: int, seed: int,
                 on_day: Callable[[int, Summary], None] | None = None) -> None:
        if not isinstance(deps.clock, FixedClock):
            raise ValueError("the simulation moves its own clock: give it a FixedClock")
        self.deps, self.clock, self.inventory = deps, deps.clock, deps.inventory
        self.rng = random.Random(seed)
        self.tag = fresh_tag(deps, seed)
        self.prefix = f"{self.tag}-"
        self.warehouses = tuple(f"{self.tag}-{w}" for w in WAREHOUSES)
        self.summary = Summary(projects=projects, days=days, seed=seed, tag=self.tag)
        self.on_day = on_day
        self.streams: list[_Stream] = []
        self.late_projects: list[dict[str, Any]] = []
        self.master: list[dict[str, Any]] = []
        self.event_seq = 0
        self.sent: list[dict[str, Any]] = []  # recent events, for redelivery
        self.workdir = Path(tempfile.mkdtemp(prefix="oms-sim-"))
        self.initial: dict[tuple[str, str], int] = {}
        self.adjusted: Counter[tuple[str, str]] = Counter()
        self._adjustments: dict[str, tuple[tuple[str, str], int]] = {}
        self.replenishment = ReplenishmentSim(deps, self.warehouses, self._event_id)

    # ---------------------------------------------------------------- helpers
    def _event_id(self, prefix: str) -> str:
        self.event_seq += 1
        return f"{self.tag}-{prefix}-{self.event_seq:08d}"

    def _now_iso(self) -> str:
        return self.clock.at.isoformat().replace("+00:00", "Z")

    def _orders(self, status: OrderStatus) -> list[Order]:
        pages = every(lambda token: self.deps.store.query_orders(
            OrderQuery(status=status.value, limit=1000, continuation=token)))
        return [o for o in pages if o.project_id.startswith(self.prefix)]

    def _closed_returning(self, cutoff: datetime) -> Iterator[Order]:
        """The Closed orders a return comes back for today: each of ours closed
        before `cutoff`, in order id order, with a 4 % chance (one draw each).
        Closed orders pile up over a run: their ids come from the status
        index, and only the few a draw picks are read whole (reading every
        Closed order every day grew with the square of the days)."""
        ids = [oid for _, oid in self.deps.store.orders_entered(OrderStatus.CLOSED.value, by_id=True)
               if oid.startswith(self.prefix)]
        # Changed since the cutoff (closed today, or touched since): no return yet. A few, read whole.
        recent = {o.order_id for o in every(lambda token: self.deps.store.query_orders(OrderQuery(
            status=OrderStatus.CLOSED.value, updated_since=cutoff, limit=1000, continuation=token)))
            if o.updated_at > cutoff}
        for oid in ids:
            # One draw per order, and the caller's draws for a picked one before the next order's.
            if oid in recent or self.rng.random() > 0.04:
                continue
            order = self.deps.store.get_order(oid)
            if order is not None and order.lines:
                yield order

    def _bom(self) -> list[dict[str, Any]]:
        return [{"sku": sku, "qty": self.rng.randint(1, 6), "uom": "EA"}
                for sku in self.rng.sample(SKUS, self.rng.randint(2, 5))]

    # ------------------------------------------------------------ master data
    def _projects(self) -> list[dict[str, Any]]:
        rows = []
        for n in range(1, self.summary.projects + 1):
            market, region = self.rng.choice(MARKETS)
            late = self.rng.random() < 0.08  # qualifies only after a later master update
            row: dict[str, Any] = {
                   "project_id": f"{self.tag}-PRJ-{n:06d}", "site_code": f"{market[:3].upper()}-{n:05d}",
                   "market": market, "region": region, "latitude": round(self.rng.uniform(25, 48), 4),
                   "longitude": round(self.rng.uniform(-122, -71), 4), "project_status": "Active",
                   "milestone": "SiteSurvey" if late else self.rng.choice(("ConceptApproved", "MilestoneApproved")),
                   "plan_type": self.rng.choice(PLAN_TYPES), "national_priority": self.rng.randint(1, 5),
                   "gated": self.rng.random() < 0.1, "warehouse_id": self.rng.choice(self.warehouses),
                   "updated_at": self._now_iso()}
            rows.append(row)
            if late:
                self.late_projects.append(row)
            for order_type in self.rng.sample(ORDER_TYPES, self.rng.choice((1, 1, 2))):
                start = self.rng.randrange(max(1, int(self.summary.days * 0.7)))
                self.streams.append(_Stream(row["project_id"], row["site_code"], order_type, start, items=self._bom()))
        return rows

    def _load(self, dataset: str, rows: list[dict[str, Any]]) -> None:
        """Master data as the planning system sends it: a Parquet dump through the dataset handler."""
        table = pa.Table.from_pylist([{**r, "updated_at": datetime.fromisoformat(r["updated_at"])}
                                      if "updated_at" in r else r for r in rows])
        if dataset == "stock-snapshots":
            table = table.set_column(table.schema.get_field_index("as_of"), "as_of",
                                     pa.array([self.clock.at] * len(rows), pa.timestamp("us", tz="UTC")))
        path = self.workdir / f"{dataset}-{self.clock.at:%Y%m%d}.parquet"
        # A stock snapshot removes nothing: ours alone (other rows would be checked against a master
        # that may not name their warehouses). The other datasets are whole dumps.
        pq.write_table(table if dataset == "stock-snapshots" else self._whole(dataset, table), path)
        ingest_dataset_file(self.deps, dataset, path)
        self.summary.master_loader = "parquet"

    def _whole(self, dataset: str, ours: pa.Table) -> pa.Table:
        """Our rows and every other row of the dataset's snapshot, as the
        source system would send its whole dump: rows of other runs and of
        other loads stay unchanged, never removed or deactivated."""
        previous = snapshots_of(self.deps).load(dataset)
        if previous is None or not previous.num_rows:
            return ours
        key = list(dataset_schema(dataset).key)
        others = previous.drop_columns([KEY]) if KEY in previous.column_names else previous
        mine = row_keys([ours[k] for k in key])
        others = others.filter(pc.invert(pc.is_in(row_keys([others[k] for k in key]), value_set=mine)))
        for name in ours.column_names:
            if name in others.column_names and others.schema.field(name).type != ours.schema.field(name).type:
                others = others.set_column(others.schema.get_field_index(name), name,
                                           others[name].cast(ours.schema.field(name).type))
        return pa.concat_tables([ours, others], promote_options="permissive")

    def setup(self) -> None:
        projects = self.master = self._projects()
        self._load("item-catalog", [{"sku": s, "description": s.replace("-", " ").title(), "uom": "EA", "active": True}
                                    for s in SKUS])
        self._load("project-master", projects)
        # Enough stock for roughly three quarters of the demand: allocation has to choose.
        demand: Counter[tuple[str, str]] = Counter()
        wh = {p["project_id"]: p["warehouse_id"] for p in projects}
        for s in self.streams:
            for item in s.items:
                demand[(wh[s.project_id], item["sku"])] += item["qty"]
        stock: list[dict[str, Any]] = [
            {"warehouse_id": w, "sku": sku, "on_hand": int(demand[(w, sku)] * 0.6) + 5, "as_of": None}
            for w in self.warehouses for sku in SKUS]
        self.initial = {(r["warehouse_id"], r["sku"]): r["on_hand"] for r in stock}
        self._load("stock-snapshots", stock)
        self._load("reorder-policy", self.replenishment.policies(
            self.initial, random.Random(f"reorder-{self.summary.seed}")))

    # ------------------------------------------------------------------ days
    def _engineering(self, day: int) -> None:

        now, events = self._now_iso(), cast(list[dict[str, Any]], [])
        for s in self.streams:
            base: dict[str, Any] = {"occurred_at": now, "project_id": s.project_id, "site_code": s.site_code,
                    "order_type": s.order_type}
            if s.start_day == day:
                events.append({**base, "event_id": self._event_id("E"), "event_type": "DesignApproved",
                               "design_version": s.version, "items": s.items})
                if self.rng.random() < 0.5:
                    need_by = (self.clock.at + timedelta(days=self.rng.randint(3, 20))).date()
                    events.append({**base, "event_id": self._event_id("E"), "event_type": "ScheduleUpdated",
                                   "need_by": need_by.isoformat()})
            elif s.start_day < day and self.rng.random() < 0.03:
                s.version += 1
                item = self.rng.choice(s.items)
                item["qty"] = max(1, item["qty"] + self.rng.choice((-1, 1, 2)))
                events.append({**base, "event_id": self._event_id("E"), "event_type": "DesignRevised",
                               "design_version": s.version, "items": [dict(i) for i in s.items]})
                if self.rng.random() < 0.2:  # an older version arriving late: stale
                    events.append({**base, "event_id": self._event_id("E"), "event_type": "DesignRevised",
                                   "design_version": s.version - 1, "items": s.items[:1]})
        if events and self.rng.random() < 0.7:  # an invalid event: unknown SKU
            bad = dict(events[0])
            bad.update(event_id=self._event_id("E"), event_type="DesignApproved", design_version=99,
                       items=[{"sku": "NOT-IN-CATALOGUE", "qty": 1}])
            events.append(bad)
        redelivered = self.rng.sample(self.sent, min(len(self.sent), len(events) // 20))
        self.sent = [e for e in events if "items" in e][-500:]
        self._send_engineering(events + redelivered, ingest_engineering_events, IngestEngineeringEvents)

    def _send_engineering(self, events: list[dict[str, Any]], handler: Any, command: Any) -> None:
        for start in range(0, len(events), EVENT_BATCH):
            chunk = events[start:start + EVENT_BATCH]
            report = handler(self.deps, command(chunk, channel="file", file_name="simulation"))
            self.summary.events["engineering"] += len(chunk)
            self.summary.outcomes.update(r.outcome.value for r in report.results)

    def _reviews(self) -> None:

        cutoff = self.clock.at - timedelta(hours=20)
        for order in self._orders(OrderStatus.DRAFT):
            if order.updated_at > cutoff:
                continue  # reviewers take a day
            roll = self.rng.random()
            try:
                if roll < 0.01:
                    cancel_order(self.deps, CancelOrder(order.order_id, APPROVER, reason="site dropped"))
                    self.summary.approvals["cancelled"] += 1
                elif roll < 0.75:
                    approve_order(self.deps, ApproveOrder(order.order_id, APPROVER))
                    self.summary.approvals["approved"] += 1
                else:
                    self.summary.approvals["deferred"] += 1  # reviewers behind: SLA clock runs
            except DomainError as error:
                self.summary.approvals[f"refused_{type(error).__name__}"] += 1

    def _allocate(self) -> None:

        report = run_allocation(self.deps, RunAllocation(trigger="simulation"))
        self.summary.allocation.update({k: v for k, v in report.counts.items() if isinstance(v, int)})
        for outcome in report.orders:
            if not outcome.order_id.startswith(self.prefix):
                continue  # an order of the store's other data, allocated by the same run
            self.summary.candidates.add(outcome.order_id)
            if outcome.outcome == "allocated":
                self.summary.allocated.add(outcome.order_id)

    def _warehouse(self, day: int) -> None:

        now, events = self._now_iso(), cast(list[dict[str, Any]], [])
        cutoff = self.clock.at - timedelta(hours=20)
        for order in self._orders(OrderStatus.RELEASED):
            if order.updated_at > cutoff:
                continue
            roll = self.rng.random()
            base: dict[str, Any] = {"event_id": self._event_id("W"), "occurred_at": now, "order_id": order.order_id}
            if roll < 0.80:
                events.append({**base, "event_type": "ReleaseCompleted"})
            elif roll < 0.85:
                events.append({**base, "event_type": "ReleaseRejected", "reason": self.rng.choice(REJECT_REASONS)})
        for order in self._closed_returning(cutoff):
            line = self.rng.choice(order.lines)
            events.append({"event_id": self._event_id("W"), "event_type": "ReturnReceived", "occurred_at": now,
                           "order_id": order.order_id, "reason": self.rng.choice(RETURN_REASONS),
                           "items": [{"sku": line.sku, "qty": self.rng.randint(1, line.qty)}]})
        if day % 3 == 2:  # restock
            for w in self.warehouses:
                for sku in self.rng.sample(SKUS, 4):
                    events.append({"event_id": self._event_id("W"), "event_type": "StockAdjusted",
                                   "occurred_at": now, "warehouse_id": w, "sku": sku,
                                   "delta": (delta := self.rng.randint(5, 40)), "reason": "receipt"})
                    self._adjustments[events[-1]["event_id"]] = ((w, sku), delta)
        if events:
            redelivered = self.rng.sample(events, max(0, len(events) // 25))
            self._send_warehouse(events + redelivered, apply_warehouse_events, ApplyWarehouseEvents)
        # The supplier answers the replenishment requests whose lead time has passed.
        deliveries = self.replenishment.deliveries(self.clock.at, now)
        for event in deliveries:
            self._adjustments[event["event_id"]] = ((event["warehouse_id"], event["sku"]), event["delta"])
        if deliveries:
            self._send_warehouse(deliveries, apply_warehouse_events, ApplyWarehouseEvents)

    def _send_warehouse(self, events: list[dict[str, Any]], handler: Any, command: Any) -> None:
        for start in range(0, len(events), EVENT_BATCH):
            chunk = events[start:start + EVENT_BATCH]
            report = handler(self.deps, command(chunk, channel="file", file_name="simulation"))
            self.summary.events["warehouse"] += len(chunk)
            self.summary.outcomes.update(r.outcome.value for r in report.results)
            for r in report.results:
                if r.outcome.value == "applied" and r.event_id in self._adjustments:
                    key, delta = self._adjustments.pop(r.event_id)
                    self.adjusted[key] += delta

    def _master_update(self) -> None:
        """Late projects reach their milestone: their parked designs go through."""
        ready, self.late_projects = self.late_projects[: len(self.late_projects) // 2 + 1], \
            self.late_projects[len(self.late_projects) // 2 + 1:]
        if ready:
            for row in ready:
                row.update(milestone="MilestoneApproved", updated_at=self._now_iso())
            # A master dump is the whole master: a project missing from it counts as removed.
            self._load("project-master", self.master)

    def day(self, day: int) -> None:

        self._engineering(day)
        if day and day % 7 == 0:
            self._master_update()
        self._reviews()
        self._allocate()
        self._warehouse(day)
        sweep_sla(self.deps)

    def run(self) -> Summary:
        started = time.perf_counter()
        self.setup()
        for day in range(self.summary.days):
            self.day(day)
            self.clock.advance(timedelta(days=1))
            if self.on_day is not None:
                self.on_day(day, self.summary)
        self.summary.seconds = time.perf_counter() - started
        self.tally()
        return self.summary

    def tally(self) -> None:
        """The closing numbers, read back from the store."""
        orders = [o for s in OrderStatus for o in self._orders(s)]
        self.summary.orders_by_state = dict(Counter(o.status.value for o in orders))
        self.summary.orders_by_kind = dict(Counter(o.kind.value for o in orders))
        self.summary.sla_flagged = sum(len(o.sla_breached) for o in orders)

        now = self.clock.now()
        self.summary.sla_open = sum(len(breaches_of(o, now, self.deps.settings.sla_hours)) for o in orders)
        del orders  # check_invariants reads them again: not two copies of every order at once
        self.summary.quarantine = dict(Counter(r.source for r in all_quarantine(self.deps.store)
                                               if (r.event_id or "").startswith(self.prefix)))
        self.summary.replenishment, replenishment_problems = self.replenishment.check()
        self.summary.violations = check_invariants(self.deps, self.prefix, self.initial, dict(self.adjusted))
        self.summary.violations += replenishment_problems


def fresh_tag(deps: Deps, seed: int) -> str:
    """`S<seed>`, or `S<seed>R<n>` for the n-th run of that seed on this
    store: a run never reuses ids another run left in the store."""
    n = 1
    while True:
        tag = f"S{seed}" if n == 1 else f"S{seed}R{n}"
        if not deps.store.get_projects([f"{tag}-PRJ-000001"]):
            return tag
        n += 1


def all_orders(deps: Deps, prefix: str = "") -> list[Order]:
    pages = every(lambda token: deps.store.query_orders(OrderQuery(limit=1000, continuation=token)))
    return [o for o in pages if o.project_id.startswith(prefix)]


def _stock_violations(deps: Deps, inventory: InventoryStore, orders: list[Order]) -> list[str]:
    problems = []
    reservations = {r.order_id: r for r in inventory.reservations()}
    holding = {o.order_id for o in orders if o.status in (OrderStatus.ALLOCATED, OrderStatus.RELEASED)}
    known = {o.order_id for o in orders}
    ours = {oid for oid in reservations if oid in known}
    if ours != holding:
        problems.append(f"reservations {len(ours)} != Allocated/Released orders {len(holding)}: "
                        f"{sorted(ours ^ holding)[:5]}")
    reserved: Counter[tuple[str, str]] = Counter()
    for r in reservations.values():
        for sku, qty in r.lines.items():
            reserved[(r.warehouse_id, sku)] += qty
    for row in inventory.stock():
        if row.reserved != reserved[(row.warehouse_id, row.sku)]:
            problems.append(f"{row.warehouse_id}/{row.sku}: reserved {row.reserved} != reservations "
                            f"{reserved[(row.warehouse_id, row.sku)]}")
        if row.available < 0 or row.on_hand < 0:
            problems.append(f"{row.warehouse_id}/{row.sku}: on hand {row.on_hand}, reserved {row.reserved}")
    return problems


def check_invariants(deps: Deps, prefix: str = "", initial: dict[tuple[str, str], int] | None = None,
                     adjustments: dict[tuple[str, str], int] | None = None) -> list[str]:
    """What must hold after any run: every reservation belongs to an order
    that holds stock and adds up to the reserved column, nothing is negative,
    every order's status is the end of an unbroken audited chain of changes,
    and no stream has two live orders of one kind or an order it does not list."""
    problems: list[str] = []
    orders = all_orders(deps, prefix)
    problems += _stock_violations(deps, deps.inventory, orders)

    # Each order's status changes, (from, to) in the audit's order: the entries
    # themselves, every one of a long run's kept at once, took gigabytes.
    audit: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for entry in every(lambda token: deps.store.query_audit(None, None, None, MAX_PAGE, token)):
        if entry.order_id is not None and entry.project_id.startswith(prefix):
            audit[entry.order_id].append((entry.from_status, entry.to_status))
    for order in orders:
        trail = audit.get(order.order_id, [])
        if not trail or trail[0][0] is not None:
            problems.append(f"{order.order_id}: no creation entry in its audit trail")
            continue
        status = None
        for from_status, to_status in trail:
            if from_status != status:
                problems.append(f"{order.order_id}: audit jumps from {status} to an entry from {from_status}")
                break
            status = to_status
        if status != order.status:
            problems.append(f"{order.order_id}: status {order.status} but the audit ends at {status}")

    by_stream: dict[str, list[Order]] = defaultdict(list)
    for order in orders:
        by_stream[order.stream.id].append(order)
    streams = deps.store.get_streams(list(by_stream))
    live = {OrderStatus.DRAFT, OrderStatus.APPROVED, OrderStatus.ALLOCATED, OrderStatus.RELEASED}
    for stream_id, members in by_stream.items():
        standard_live = [o for o in members if o.kind.value == "standard" and o.status in live]
        if len(standard_live) > 1:
            problems.append(f"{stream_id}: {len(standard_live)} live standard orders")
        stream = streams.get(stream_id)
        if stream is None or set(stream.order_ids) != {o.order_id for o in members}:
            problems.append(f"{stream_id}: its orders and the stream's list disagree")
    ids = [o.order_id for o in orders]
    if len(ids) != len(set(ids)):
        problems.append("duplicate order ids")
    created = Counter(e.subject for e in deps.store.outbox_events() if e.type == "oms.order.created"
                      and e.project_id.startswith(prefix))
    doubled = [oid for oid, n in created.items() if n > 1]
    if doubled:
        problems.append(f"orders created twice: {doubled[:5]}")
    if initial is not None and adjustments is not None:
        problems += conservation_violations(deps.inventory, orders, initial, adjustments)
    return problems


def conservation_violations(inventory: InventoryStore, orders: list[Order], initial: dict[tuple[str, str], int],
                            adjustments: dict[tuple[str, str], int]) -> list[str]:
    """on hand = initial + adjustments - delivered + returned, per warehouse
    and SKU of the run's own warehouses (those of `initial`)."""
    expected: Counter[tuple[str, str]] = Counter(initial)
    expected.update(adjustments)
    for order in orders:
        if order.status == OrderStatus.CLOSED or order.status in RETURNED_STATUSES:
            for sku, qty in order.quantities().items():
                expected[(order.warehouse_id or "", sku)] -= qty
            for sku, qty in order.returned.items():
                expected[(order.warehouse_id or "", sku)] += qty
    ours = {w for w, _ in initial}
    return [f"{w}/{s}: on hand {row.on_hand} != expected {expected[(w, s)]}"
            for row in inventory.stock() if (w := row.warehouse_id) in ours
            and row.on_hand != expected[(w, s := row.sku)]]

