"""One event whose decision raises an error that is not the infrastructure's
(a bug meeting an input nobody foresaw) is quarantined with that error, and
the rest of its batch is applied: it never sinks the batch."""

from __future__ import annotations

import dataclasses
from typing import Any

from common.domain.models import OrderStatus, Project
from common.domain.validation import QualifyingPolicy
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from common.service.commands import ApplyWarehouseEvents, IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.warehouse import apply_warehouse_events
from tests.helpers.warehouse import (
    AT,
    DESIGN,
    ORDER,
    WH,
    allocate,
    approve,
    design,
    design_event,
    on_hand,
    release,
    stock_up,
)

POISONED = "PRJ-0000102"


class ExplodingPolicy(QualifyingPolicy):
    """A qualifying policy with a bug for one project."""

    def why_not(self, project: Project) -> str | None:
        if project.project_id == POISONED:
            raise KeyError("milestone_map")
        return super().why_not(project)


@dataclasses.dataclass
class PoisonedDeps(Deps):
    @property
    def policy(self) -> QualifyingPolicy:
        return ExplodingPolicy(milestones=frozenset(self.settings.qualifying_milestones),
                               blocking_statuses=frozenset(self.settings.blocking_statuses))


def _poisoned(deps: Deps) -> Deps:
    return PoisonedDeps(**{f.name: getattr(deps, f.name) for f in dataclasses.fields(Deps)})


def test_a_code_error_on_one_engineering_event_quarantines_it_and_the_batch_goes_on(seeded: Deps) -> None:
    deps = _poisoned(seeded)
    events = [design_event("e-nyc"), design_event("e-bos", project=POISONED, site="BOS-00112"),
              design_event("e-dal", project="PRJ-0000104", site="DAL-00555")]

    report = ingest_engineering_events(deps, IngestEngineeringEvents(events, channel="eventhub"))

    assert [(r.event_id, r.outcome.value) for r in report.results] == [
        ("e-nyc", "created"), ("e-bos", "quarantined"), ("e-dal", "created")]
    assert {o.project_id for o in deps.store.query_orders(OrderQuery()).items} == {"PRJ-0000101", "PRJ-0000104"}
    (record,) = deps.store.list_quarantine().items
    assert (record.event_id, record.project_id) == ("e-bos", POISONED)
    assert [(r.type, r.msg) for r in record.reasons] == [
        ("processing_error", "could not be decided: KeyError: 'milestone_map'")]
    (job,) = deps.store.list_jobs()
    assert (job.status, job.counts["created"], job.counts["quarantined"]) == ("succeeded", 2, 1)


def test_the_poisoned_event_applies_once_the_bug_is_gone(seeded: Deps) -> None:
    deps = _poisoned(seeded)
    ingest_engineering_events(deps, IngestEngineeringEvents(
        [design_event("e-bos", project=POISONED, site="BOS-00112")], channel="eventhub"))

    (record,) = seeded.store.list_quarantine().items
    report = ingest_engineering_events(seeded, IngestEngineeringEvents([record.payload], channel="quarantine"))

    assert [r.outcome.value for r in report.results] == ["created"]


class ExplodingReturnPolicy(dict[str, str]):
    """A return policy with a bug for one reason."""

    def get(self, key: str, default: Any = None) -> Any:
        if key == "damaged":
            raise RuntimeError("policy table corrupt")
        return super().get(key, default)


def test_a_code_error_on_one_warehouse_event_quarantines_it_and_the_batch_goes_on(seeded: Deps) -> None:
    stock_up(seeded, {**DESIGN, "MNT-PIPE-2M": 10})
    order_id = design(seeded)
    approve(seeded, order_id)
    allocate(seeded, order_id)
    release(seeded, order_id)
    settings = seeded.settings.model_copy(update={"return_policy": ExplodingReturnPolicy(
        seeded.settings.return_policy)})
    deps = dataclasses.replace(seeded, settings=settings)
    events = [
        {"event_id": "wh-ret", "event_type": "ReturnReceived", "occurred_at": AT, "order_id": order_id,
         "reason": "damaged", "items": [{"sku": "ANT-4T4R-B41", "qty": 1}]},
        {"event_id": "wh-adj", "event_type": "StockAdjusted", "occurred_at": AT, "warehouse_id": WH,
         "sku": "MNT-PIPE-2M", "delta": 4, "reason": "cycle_count"},
        {"event_id": "wh-done", "event_type": "ReleaseCompleted", "occurred_at": AT, "order_id": order_id},
    ]

    report = apply_warehouse_events(deps, ApplyWarehouseEvents(events, channel="eventhub"))

    assert [(r.event_id, r.outcome.value) for r in report.results] == [
        ("wh-ret", "quarantined"), ("wh-adj", "applied"), ("wh-done", "applied")]
    assert on_hand(seeded)["MNT-PIPE-2M"] == (14, 0)
    order = seeded.store.get_order(ORDER)
    assert order is not None and order.status == OrderStatus.CLOSED
    (record,) = seeded.store.list_quarantine().items
    assert (record.event_id, record.order_id) == ("wh-ret", order_id)
    assert record.reasons[0].type == "processing_error"
    assert "RuntimeError: policy table corrupt" in record.reasons[0].msg
