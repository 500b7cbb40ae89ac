"""Figures past the bounds (common/domain/bounds.py) are refused on every
path, not only at the edge: quantities that add up past a line's limit,
a design version near 2**63 that would make every later genuine version
stale, stock counts past what a warehouse can hold."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.domain.bounds import MAX_DESIGN_VERSION, MAX_ON_HAND, MAX_QTY
from common.domain.errors import InvalidInput, ValidationFailed
from common.domain.models import Actor, ActorType, OrderStatus
from common.service.bootstrap import Deps
from common.service.commands import AddItems, ApproveOrder, LineInput
from common.service.handlers.datasets import ingest_dataset_file
from common.service.handlers.review import add_items, approve_order
from common.service.unit_of_work import UnitOfWork
from tests.helpers.warehouse import ORDER, adjusted, design, design_event, on_hand, one, stock_up

PLANNER = Actor(type=ActorType.USER, id="bob")
APPROVER = Actor(type=ActorType.USER, id="alice")


def test_items_added_up_past_the_line_limit_are_refused_and_the_order_is_unchanged(seeded: Deps) -> None:
    design(seeded)
    add_items(seeded, AddItems(order_id=ORDER, actor=PLANNER, items=[LineInput("MNT-PIPE-2M", MAX_QTY)]))
    before = seeded.store.get_order(ORDER)

    with pytest.raises(InvalidInput) as refused:
        add_items(seeded, AddItems(order_id=ORDER, actor=PLANNER, items=[LineInput("MNT-PIPE-2M", 1)]))

    assert [r.type for r in refused.value.reasons] == ["less_than_equal"]
    assert f"more than {MAX_QTY}" in refused.value.reasons[0].msg
    assert seeded.store.get_order(ORDER) == before
    assert seeded.store.order_audit(ORDER)[-1].action == "add_items_refused"


def test_an_order_stored_past_the_bounds_is_not_approvable(seeded: Deps) -> None:
    design(seeded)
    order = seeded.store.get_order(ORDER)
    assert order is not None
    past = order.model_copy(update={"lines": [order.lines[0].model_copy(update={"qty": MAX_QTY + 1}),
                                              *order.lines[1:]]})
    uow = UnitOfWork(seeded.store, seeded.inventory)
    uow.adopt_orders([order])
    uow.put_order(past)  # as an older build could have written it
    assert uow.commit().ok

    with pytest.raises(ValidationFailed) as refused:
        approve_order(seeded, ApproveOrder(order_id=ORDER, actor=APPROVER))

    assert "less_than_equal" in {r.type for r in refused.value.reasons}
    assert seeded.store.get_order(ORDER).status == OrderStatus.DRAFT  # type: ignore[union-attr]


def test_a_design_version_past_the_bound_is_quarantined_and_later_versions_still_apply(seeded: Deps) -> None:
    from common.service.commands import IngestEngineeringEvents
    from common.service.handlers.engineering import ingest_engineering_events

    def send(event: dict[str, object]) -> str:
        report = ingest_engineering_events(seeded, IngestEngineeringEvents([event], channel="file"))
        return report.results[0].outcome.value

    assert send(design_event("evt-1", version=1)) == "created"
    assert send({**design_event("evt-huge"), "design_version": 2**70}) == "quarantined"
    assert send(design_event("evt-2", version=2, items={"ANT-4T4R-B41": 4})) == "revised"
    assert send({**design_event("evt-max"), "design_version": MAX_DESIGN_VERSION}) in ("revised", "skipped_unchanged")
    [record] = seeded.store.list_quarantine().items
    assert record.event_id == "evt-huge" and record.reasons[0].loc == ["design_version"]


def test_a_stock_snapshot_row_past_the_bound_is_quarantined(seeded: Deps, tmp_path: Path) -> None:
    path = tmp_path / "stock.parquet"
    pq.write_table(pa.table({"warehouse_id": ["WH-EAST", "WH-EAST"], "sku": ["ANT-4T4R-B41", "RRU-B41-160W"],
                             "on_hand": pa.array([2**63 - 1, 5], pa.int64()),
                             "as_of": pa.array([datetime(2026, 11, 21, tzinfo=UTC)] * 2,
                                               pa.timestamp("us", tz="UTC"))}), path)

    job = ingest_dataset_file(seeded, "stock", path)

    assert job.counts["quarantined"] == 1
    assert on_hand(seeded) == {"RRU-B41-160W": (5, 0)}
    [record] = seeded.store.list_quarantine().items
    assert record.reasons[0].type == "out_of_range" and str(MAX_ON_HAND) in record.reasons[0].msg


def test_an_adjustment_that_would_take_on_hand_past_the_bound_is_refused(seeded: Deps) -> None:
    stock_up(seeded, {"ANT-4T4R-B41": MAX_ON_HAND - 10})

    result = one(seeded, adjusted("adj-1", "ANT-4T4R-B41", 11))

    assert result.outcome.value == "quarantined"
    assert on_hand(seeded)["ANT-4T4R-B41"] == (MAX_ON_HAND - 10, 0)
    assert "more than" in result.reasons[0]
