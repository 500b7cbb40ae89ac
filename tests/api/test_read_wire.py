"""The busiest reads answer JSON made straight from what the store holds
(common.api.schemas.order_json from an order, order_docs_page_json from the
stored documents): byte for byte what OrderOut, the documented response
model, gives for the same orders."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from common.adapters.sqlite.store import _dump
from common.api.schemas import OrderOut, OrderPage, order_docs_page_json, order_json
from common.domain.models import LineSource, Order, OrderKind, OrderLine, OrderStatus
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from tests.api.conftest import auth

AT = datetime(2026, 11, 20, 8, 15, 0, 123456, tzinfo=UTC)
text = st.text(min_size=1, max_size=12)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    lines = [OrderLine(line_no=n + 1, sku=draw(text), qty=draw(st.integers(1, 10**6)),
                       uom=draw(st.sampled_from(["EA", "M", "ü-\u2028"])), source=draw(st.sampled_from(LineSource)))
             for n in range(draw(st.integers(0, 4)))]
    return Order(
        order_id=draw(text), order_number=draw(text), kind=draw(st.sampled_from(OrderKind)),
        parent_order_id=draw(st.none() | text), project_id=draw(text), site_code=draw(text),
        order_type=draw(text), seq=draw(st.integers(1, 99)), status=draw(st.sampled_from(OrderStatus)),
        revision=draw(st.integers(1, 50)), design_version=draw(st.none() | st.integers(0, 99)),
        warehouse_id=draw(st.none() | text), market=draw(st.none() | text),
        national_priority=draw(st.none() | st.integers(1, 9)), gated=draw(st.booleans()),
        plan_type=draw(st.none() | text), need_by=draw(st.none() | st.just(date(2027, 1, 15))), lines=lines,
        returned=draw(st.dictionaries(text, st.integers(0, 9), max_size=2)),
        rejection_reason=draw(st.none() | text), approved_at=draw(st.none() | st.just(AT)),
        approved_by=draw(st.none() | text), last_changed_by=draw(st.none() | text),
        sla_breached=draw(st.lists(text, max_size=2)), status_since=draw(st.none() | st.just(AT)),
        created_at=AT, updated_at=AT, etag=draw(st.none() | st.text("0123456789abcdef", min_size=16, max_size=16)))


@settings(max_examples=200, deadline=None)
@given(orders())
def test_an_order_reads_as_the_bytes_of_its_response_model(order: Order) -> None:
    assert order_json(order) == OrderOut.of(order).model_dump_json().encode()


def _stored(order: Order) -> dict[str, Any]:
    """The order's document as the SQLite store reads it back (defaults left out, etag beside)."""
    return {**orjson.loads(_dump(order)), "etag": order.etag}


@settings(max_examples=100, deadline=None)
@given(st.lists(orders(), max_size=5), st.none() | text)
def test_a_page_of_stored_documents_reads_as_the_bytes_of_its_response_model(
        items: list[Order], continuation: str | None) -> None:
    expected = OrderPage(items=[OrderOut.of(o) for o in items], continuation=continuation).model_dump_json()
    assert order_docs_page_json([_stored(o) for o in items], continuation) == expected.encode()
    # Cosmos DB's documents hold other fields: that store hands on each order's whole JSON.
    assert order_docs_page_json([o.model_dump(mode="json") for o in items], continuation) == expected.encode()


def test_the_list_and_the_order_answer_what_the_response_model_says(client: TestClient, loaded: Deps) -> None:
    page = loaded.store.query_orders(OrderQuery(limit=2))
    listed = client.get("/api/orders?limit=2", headers=auth("viewer"))
    assert listed.status_code == 200 and listed.headers["content-type"] == "application/json"
    assert listed.content == OrderPage(items=[OrderOut.of(o) for o in page.items],
                                       continuation=page.continuation).model_dump_json().encode()
    order = page.items[0]
    read = client.get(f"/api/orders/{order.order_id}", headers=auth("viewer"))
    assert read.content == OrderOut.of(order).model_dump_json().encode()
    assert read.headers["ETag"] == f'"{order.etag}"'
