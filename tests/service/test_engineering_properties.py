"""Out-of-order and repeated delivery do not change the outcome: any
interleaving and redelivery of one stream's design events, split into any
batches, ends in the same orders as applying the newest design once."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.adapters.clock import FixedClock
from common.adapters.sqlite import SqliteStore
from common.config import Settings
from common.ports import OrderQuery
from common.service.bootstrap import build
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from tests.conftest import load_samples

SKUS = ["ANT-4T4R-B41", "RRU-B41-160W", "CBL-HYB-30M", "MNT-PIPE-2M", "BBU-5G-SA"]
STREAM = {"project_id": "PRJ-0000101", "site_code": "NYC-00417", "order_type": "NewBuild"}
SETTINGS = Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH=":memory:")

items_strategy = st.dictionaries(st.sampled_from(SKUS), st.integers(1, 5), min_size=1, max_size=len(SKUS))


def design_event(version: int, items: dict[str, int]) -> dict[str, Any]:
    return {"event_id": f"evt-v{version}", "event_type": "DesignApproved" if version == 1 else "DesignRevised",
            "occurred_at": f"2026-11-{version:02d}T08:00:00Z", **STREAM, "design_version": version,
            "items": [{"sku": s, "qty": q, "uom": "EA"} for s, q in items.items()]}


Case = tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]


@st.composite
def deliveries(draw: st.DrawFn, distinct: bool = True) -> Case:
    """Designs v1..vn delivered in any order, some more than once, in any
    batches. With `distinct`, the designs' contents differ pairwise."""
    designs = draw(st.lists(items_strategy, min_size=1, max_size=4,
                            unique_by=(lambda d: tuple(sorted(d.items()))) if distinct else None))
    events = [design_event(v, items) for v, items in enumerate(designs, start=1)]
    copies = [e for e in events for _ in range(draw(st.integers(1, 3)))]
    order = draw(st.permutations(copies))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=len(order))))
    batches = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True) if order[a:b]]
    return events, batches


def orders_after(batches: list[list[dict[str, Any]]], with_version: bool = True) -> list[tuple[Any, ...]]:
    store = SqliteStore(":memory:")
    store.ensure_schema()
    try:
        deps = build(SETTINGS, store=store, clock=FixedClock())
        load_samples(deps)
        for batch in batches:
            ingest_engineering_events(deps, IngestEngineeringEvents(batch, channel="eventhub"))
        return [(o.order_id, o.kind.value, o.status.value, o.design_version if with_version else None,
                 sorted((line.sku, line.qty, line.uom) for line in o.lines))
                for o in store.query_orders(OrderQuery(limit=100)).items]
    finally:
        store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_any_interleaving_and_redelivery_ends_as_the_newest_design_applied_once(
        case: Case) -> None:
    events, batches = case
    newest = events[-1]

    expected = orders_after([[newest]])
    assert orders_after(batches) == expected
    (order,) = expected
    assert order[3] == newest["design_version"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries(distinct=False))
def test_designs_repeating_earlier_content_end_in_the_same_lines_as_the_newest_design(case: Case) -> None:
    # A design whose content equals the order's is skipped as unchanged, so
    # the order keeps the version that last changed it: compare the rest.
    events, batches = case
    assert orders_after(batches, with_version=False) == orders_after([[events[-1]]], with_version=False)
