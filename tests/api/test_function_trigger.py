"""The same API through the Function app's HTTP trigger (`func.HttpRequest`
into the AsgiFunctionApp's async user function) answers exactly as through
the ASGI app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from fastapi.testclient import TestClient

from common.service.bootstrap import Deps
from tests.api.conftest import auth, first_order
from tests.functions.test_function_app import indexed
from tests.helpers.entry_points import process_deps


@dataclass
class Context:
    """The few fields of `func.Context` the ASGI bridge reads."""

    invocation_id: str = "inv-1"
    function_name: str = "http_app_func"
    function_directory: str = "/home/site/wwwroot"
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


@pytest.fixture
def trigger(loaded: Deps) -> Iterator[Any]:
    """The real `function_app.app` HTTP trigger, on the test's store."""
    (function,) = [f for f in indexed() if f.get_function_name() == "http_app_func"]
    with process_deps(loaded):
        yield function.get_user_function()


@pytest.fixture
def plain(loaded: Deps) -> Iterator[TestClient]:
    """The Function app's own FastAPI instance, over ASGI."""
    from functions.http_api import asgi_app

    with process_deps(loaded), TestClient(asgi_app, raise_server_exceptions=False) as client:
        yield client


def call(trigger: Any, method: str, path: str, headers: dict[str, str], body: bytes = b"",
         params: dict[str, str] | None = None) -> func.HttpResponse:
    url = "http://localhost" + path + (f"?{urlencode(params)}" if params else "")
    request = func.HttpRequest(method=method, url=url, headers=headers, params=params or {}, body=body)
    response: func.HttpResponse = asyncio.run(trigger(request, Context()))
    return response


def test_the_trigger_is_async_and_takes_the_request_and_a_context(trigger: Any) -> None:
    import inspect

    assert inspect.iscoroutinefunction(trigger)
    assert list(inspect.signature(trigger).parameters) == ["req", "context"]


def test_the_function_trigger_and_the_asgi_app_answer_alike(trigger: Any, plain: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    cases: list[tuple[str, str, dict[str, str], bytes, dict[str, str] | None]] = [
        ("GET", "/api/health", {}, b"", None),
        ("GET", "/api/orders", auth("viewer"), b"", {"limit": "2"}),
        ("GET", f"/api/orders/{order_id}", auth("viewer"), b"", None),
        ("GET", f"/api/orders/{order_id}/audit", auth("viewer"), b"", None),
        ("GET", "/api/orders", {}, b"", None),
        ("GET", "/api/orders", auth("integration"), b"", None),
        ("GET", "/api/orders", auth("viewer"), b"", {"limit": "0"}),
        ("GET", "/api/nowhere", {}, b"", None),
        ("DELETE", "/api/orders", auth("viewer"), b"", None),
        ("PATCH", f"/api/orders/{order_id}", auth("planner"), b'{"need_by": "2027-01-01"}', None),
        ("POST", "/api/events/engineering", {**auth("integration"), "Content-Type": "application/json"},
         b"{oops", None),
        ("POST", "/api/events/engineering", {**auth("integration"), "Content-Type": "application/json"},
         b"42", None),
        ("GET", "/api/projects/PRJ-0000101", auth("viewer"), b"", None),
        ("GET", "/api/openapi.json", {}, b"", None),
    ]
    for method, path, headers, body, params in cases:
        via_function = call(trigger, method, path, headers, body, params)
        via_asgi = plain.request(method, path, headers=headers, content=body, params=params)
        where = f"{method} {path}"
        assert via_function.status_code == via_asgi.status_code, where
        assert via_function.headers.get("content-type") == via_asgi.headers.get("content-type"), where
        assert via_function.headers.get("etag") == via_asgi.headers.get("etag"), where
        assert json.loads(via_function.get_body()) == via_asgi.json(), where


def test_an_edit_through_the_function_trigger_is_what_the_asgi_app_reads_back(
        trigger: Any, plain: TestClient, loaded: Deps) -> None:
    order_id = first_order(loaded)
    etag = plain.get(f"/api/orders/{order_id}", headers=auth("viewer")).headers["ETag"]
    headers = {**auth("planner"), "If-Match": etag, "Content-Type": "application/merge-patch+json"}
    edited = call(trigger, "PATCH", f"/api/orders/{order_id}", headers, b'{"need_by": "2027-04-01"}')
    assert edited.status_code == 200
    stale = call(trigger, "PATCH", f"/api/orders/{order_id}", headers, b'{"need_by": "2027-04-02"}')
    assert stale.status_code == 412
    read = plain.get(f"/api/orders/{order_id}", headers=auth("viewer"))
    assert read.json() == json.loads(edited.get_body())
    assert read.headers["ETag"] == edited.headers["etag"]


def test_without_credentials_the_app_itself_answers_401_through_the_anonymous_function(trigger: Any) -> None:
    for path in ("/api/orders", "/api/metrics/flow", "/api/dead-letters", "/api/queue"):
        response = call(trigger, "GET", path, {})
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json", path
    # What a browser loads without a key: the pages (no data in them), their
    # assets, the API docs and the API description.
    for path in ("/api/dashboard", "/api/dashboard/dashboard.js", "/api/console", "/api/console/assets/app.js",
                 "/api/docs", "/api/docs/assets/swagger-ui-bundle.js"):
        assert call(trigger, "GET", path, {}).status_code == 200, path
    assert call(trigger, "GET", "/api/openapi.json", {}).status_code == 200
