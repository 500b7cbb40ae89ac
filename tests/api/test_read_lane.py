"""The busiest reads' fast lane (common.api.deps.fast_lane): a list request
the lane reads answers exactly what FastAPI's own reading of it answers,
status and bytes, and whatever the lane does not read goes to FastAPI.

The lane never answers a request with a parameter the route does not take
(FastAPI ignores it), so the same query with one more, unknown, parameter
is FastAPI's answer to compare with."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from common.api.routers.orders import simple_list_query
from common.domain.models import OrderKind, OrderStatus
from common.ports import OrderQuery
from common.service.bootstrap import Deps
from tests.api.conftest import auth

NAMES = ("status", "project_id", "site_code", "market", "kind", "limit", "continuation", "updated_since", "other")
LIMITS = ("1", "2", "50", "1000", "1001", "0", "050", "+5", " 5", "5 ", "-1", "1e2", "\u0665", "99999", "abc", "")
values = (st.sampled_from([s.value for s in OrderStatus] + [k.value for k in OrderKind] + ["draft", "Nope"])
          | st.sampled_from(LIMITS)
          | st.sampled_from(["x" * 128, "x" * 129, "y" * 1024, "y" * 1025, "2026-11-20T08:00:00Z", "0.5"])
          | st.text(max_size=8))
pairs = st.lists(st.tuples(st.sampled_from(NAMES), values), max_size=4)


def _answers(client: TestClient, query: list[tuple[str, str]]) -> tuple[int, bytes]:
    answer = client.get(f"/api/orders?{urlencode(query)}", headers=auth("viewer"))
    return answer.status_code, answer.content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs)
@example([("limit", "2")])
@example([("status", "Draft"), ("limit", "1000")])
@example([("limit", "1"), ("limit", "2")])
@example([("project_id", "x" * 128), ("market", "Boston")])
def test_a_list_request_answers_with_the_lane_what_fastapi_answers_without_it(
        client: TestClient, loaded: Deps, query: list[tuple[str, str]]) -> None:
    assert _answers(client, query) == _answers(client, [*query, ("zz", "1")])


def test_a_continuation_reads_the_same_through_the_lane(client: TestClient, loaded: Deps) -> None:
    token = loaded.store.query_orders(OrderQuery(limit=1)).continuation
    assert token is not None
    for query in ([("limit", "1"), ("continuation", token)], [("continuation", token + "x")]):
        assert _answers(client, query) == _answers(client, [*query, ("zz", "1")])


def test_the_lane_reads_the_well_formed_list_query_and_leaves_the_rest() -> None:
    assert simple_list_query([]) == OrderQuery()
    assert simple_list_query([("limit", "50"), ("status", "Draft"), ("kind", "standard"), ("market", "Boston")]) \
        == OrderQuery(limit=50, status="Draft", kind="standard", market="Boston")
    for left in ([("limit", "0")], [("limit", "1001")], [("limit", "050")], [("limit", "")], [("status", "draft")],
                 [("limit", "5"), ("limit", "5")], [("updated_since", "2026-11-20T08:00:00Z")], [("x", "1")],
                 [("project_id", "p" * 129)], [("continuation", "c" * 1025)], [("limit", "\u0665")]):
        assert simple_list_query(left) is None, left


def test_an_unknown_order_is_a_404_problem_through_the_lane(client: TestClient, loaded: Deps) -> None:
    answer = client.get("/api/orders/NO-SUCH-ORDER", headers=auth("viewer"))
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert "NO-SUCH-ORDER" in answer.json()["detail"]
    # No credentials, no lane: the role check comes first.
    assert client.get("/api/orders/NO-SUCH-ORDER").status_code == 401
    assert client.get("/api/orders?limit=5").status_code == 401
