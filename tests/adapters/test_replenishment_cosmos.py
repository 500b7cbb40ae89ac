"""Replenishment and the what-if on the Cosmos DB store (the local Cosmos
server): a stock drop opens one request whose event the outbox publishes and
marks delivered like an order event, a restock closes it, and a what-if
leaves every document of every container as it was."""

from __future__ import annotations

from typing import Any

from common.domain.replenishment import ReorderPolicy
from common.service.bootstrap import Deps
from common.service.commands import ApplyWarehouseEvents
from common.service.handlers.outbox import dispatch_outbox
from common.service.handlers.warehouse import apply_warehouse_events
from common.service.handlers.whatif import StockOverride, WhatIf, run_what_if
from tests.adapters.conftest import RecordingPublisher
from tests.conftest import load_samples
from tests.helpers.allocation import approved
from tests.helpers.warehouse import WH, adjusted, stock_up

ANT = "ANT-4T4R-B41"


def documents(deps: Deps) -> dict[str, list[dict[str, Any]]]:
    """Every document of every container of the store's database."""
    store: Any = deps.store
    out = {}
    for container in store.db.list_containers():
        proxy = store.db.get_container_client(container["id"])
        docs = list(proxy.query_items("SELECT * FROM c", enable_cross_partition_query=True))
        out[container["id"]] = sorted(docs, key=lambda d: (str(d.get("project_id")), d["id"]))
    return out


def test_a_request_opens_publishes_and_closes_on_cosmos(cosmos_deps: Deps) -> None:
    load_samples(cosmos_deps)
    stock_up(cosmos_deps, {ANT: 20})
    cosmos_deps.store.put_reorder_policies([ReorderPolicy(warehouse_id=WH, sku=ANT, reorder_point=10, target_level=30,
                                                          lead_time_days=2)])

    apply_warehouse_events(cosmos_deps, ApplyWarehouseEvents([adjusted("adj-1", ANT, -15)], channel="file"))
    apply_warehouse_events(cosmos_deps, ApplyWarehouseEvents([adjusted("adj-1", ANT, -15)], channel="file"))
    published = dispatch_outbox(cosmos_deps)

    [request] = cosmos_deps.store.replenishment_requests()
    assert (request.status, request.quantity) == ("open", 25)
    assert isinstance(cosmos_deps.publisher, RecordingPublisher)
    assert [e["type"] for e in cosmos_deps.publisher.sent if e["subject"] == request.request_id] == [
        "oms.stock.replenishment_requested"]
    assert request.request_id + "@1" in published.event_ids and cosmos_deps.store.pending_outbox() == []

    apply_warehouse_events(cosmos_deps, ApplyWarehouseEvents([adjusted("adj-2", ANT, 30)], channel="file"))

    [closed] = cosmos_deps.store.replenishment_requests()
    assert closed.status == "fulfilled"
    assert [e.action for e in cosmos_deps.store.order_audit(request.request_id)] == [
        "replenishment_requested", "replenishment_fulfilled"]


def test_a_what_if_writes_no_document_on_cosmos(cosmos_deps: Deps) -> None:
    load_samples(cosmos_deps)
    stock_up(cosmos_deps, {ANT: 1, "RRU-B41-160W": 10})
    order = approved(cosmos_deps, "PRJ-0000101", {ANT: 3, "RRU-B41-160W": 1})
    before = documents(cosmos_deps)

    report = run_what_if(cosmos_deps, WhatIf(extra_stock=[StockOverride(warehouse_id=WH, sku=ANT, qty=2)]))

    assert report.difference.moved_in == [order.order_id]
    assert documents(cosmos_deps) == before
