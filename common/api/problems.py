"""RFC 9457 `application/problem+json` for every error the API answers:
domain refusals, framework validation errors, unknown routes, 405, oversized
bodies and unexpected failures (a generic detail and a correlation id; the
stack trace stays in the server log)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.domain.errors import (
    ConcurrencyConflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidInput,
    NotFound,
    RunInProgress,
    ValidationFailed,
)
from common.domain.models import Reason

log = logging.getLogger("oms.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:oms:problem:"
# Domain refusals that are about the resource's state rather than the input.
CONFLICT_CODES = frozenset({"not_open", "duplicate_event"})


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


class ProblemError(Exception):
    """An error the API answers as problem+json; raise it anywhere below a route."""

    def __init__(self, status: int, detail: str, *, kind: str | None = None, title: str | None = None,
                 errors: Sequence[Reason | dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _slug(status)
        self.title = title or HTTPStatus(status).phrase
        self.errors = [e.model_dump(exclude_none=True) if isinstance(e, Reason) else e for e in errors or []]
        self.headers = headers or {}
        self.extra = extra


def problem_body(status: int, detail: str, *, kind: str | None = None, title: str | None = None,
                 instance: str | None = None, errors: list[dict[str, Any]] | None = None,
                 **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + (kind or _slug(status)),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(status: int, detail: str, *, headers: dict[str, str] | None = None,
                     **fields: Any) -> Response:
    body = problem_body(status, detail, **fields)
    return Response(json.dumps(body, default=str), status_code=status, headers=headers,
                    media_type=PROBLEM_MEDIA_TYPE)


def _instance(request: Request) -> str:
    return request.url.path


def from_domain(error: DomainError) -> ProblemError:
    """Domain refusals as HTTP problems."""
    errors = error.reasons
    if isinstance(error, NotFound):
        return ProblemError(404, error.message, kind="not-found", errors=errors)
    if isinstance(error, IllegalTransition):
        return ProblemError(409, error.message, kind="illegal-transition", current_status=error.current.value,
                            action=error.action)
    if isinstance(error, ConcurrencyConflict):
        return ProblemError(412, error.message, kind="precondition-failed", errors=errors)
    if isinstance(error, Forbidden):
        return ProblemError(403, error.message, kind="forbidden", errors=errors)
    if isinstance(error, ValidationFailed):
        return ProblemError(422, error.message, kind="validation-failed", errors=errors)
    if isinstance(error, InvalidInput):
        return ProblemError(422, error.message, kind="invalid-input", errors=errors)
    if isinstance(error, RunInProgress):
        return ProblemError(409, error.message, kind="run-in-progress", running_run_id=error.holder,
                            headers={"Retry-After": "60"})
    status = 409 if error.code in CONFLICT_CODES else 422
    return ProblemError(status, error.message, kind=error.code.replace("_", "-"), errors=errors)


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for item in error.errors():
        entry: dict[str, Any] = {"loc": list(item.get("loc", [])), "msg": str(item.get("msg", "invalid"))}
        if item.get("type"):
            entry["type"] = item["type"]
        out.append(entry)
    return out


def install(app: FastAPI) -> None:
    """Problem handlers for everything the app can raise."""

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, ProblemError)
        return problem_response(error.status, error.detail, headers=error.headers, kind=error.kind,
                                title=error.title, instance=_instance(request), errors=error.errors,
                                **error.extra)

    async def on_domain(request: Request, error: Exception) -> Response:
        assert isinstance(error, DomainError)
        return await on_problem(request, from_domain(error))

    async def on_validation(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        errors = _validation_errors(error)
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(400, "the request body is not valid JSON", kind="malformed-body",
                                    instance=_instance(request), errors=errors)
        return problem_response(422, "the request is not valid", kind="validation-error",
                                instance=_instance(request), errors=errors)

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        status = error.status_code
        detail = error.detail if isinstance(error.detail, str) else HTTPStatus(status).phrase
        kind = "payload-too-large" if status == 413 else None
        if status == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        headers = dict(error.headers or {})
        if status == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
            # Starlette names the methods of the first route on the path only.
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return problem_response(status, detail, headers=headers, kind=kind, instance=_instance(request))

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


class BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` when a body without (or with a lying)
    Content-Length grows past the limit; an HTTPException so that FastAPI's
    body parsing passes it on instead of answering 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class GuardMiddleware:
    """The outermost layer of the app: refuses bodies over the configured
    limit with 413, and turns any unexpected failure into a 500 problem with
    a correlation id (logged here with its stack trace, never sent)."""

    def __init__(self, app: ASGIApp, max_body_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":  # FastAPI's routes answer GET only: HEAD is GET without the body
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
        if scope["method"] == "OPTIONS":
            allowed = allowed_methods(scope["app"], scope["path"])
            if allowed:  # no route at all: the ordinary 404 below
                await send({"type": "http.response.start", "status": 204,
                            "headers": [(b"allow", ", ".join(allowed).encode()), (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
        started = False
        limit = self.max_body_bytes()

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_problem(send, 413, f"the request body is larger than {limit} bytes",
                                scope, kind="payload-too-large")
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, receive_limited, send_tracked)
        except BodyTooLarge:
            if not started:
                await _send_problem(send, 413, f"the request body is larger than {limit} bytes", scope,
                                    kind="payload-too-large")
        except Exception:
            correlation_id = uuid.uuid4().hex
            log.exception("unhandled error on %s %s (correlation id %s)", scope.get("method"),
                          scope.get("path"), correlation_id)
            if not started:
                await _send_problem(send, 500, "an unexpected error occurred; quote the correlation id "
                                    "when you report it", scope, kind="internal-error",
                                    correlation_id=correlation_id)


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _without_body(send: Send) -> Send:
    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}  # the headers (Content-Length too) stay GET's
        await send(message)

    return head


def allowed_methods(app: Any, path: str) -> list[str]:
    """Every method some route of the app answers on `path` (HEAD with GET,
    OPTIONS with any): what `Allow` must list (RFC 9110 10.2.1)."""
    methods: set[str] = set()
    for method in _METHODS:
        probe: Scope = {"type": "http", "path": path, "method": method, "root_path": "", "headers": [],
                        "query_string": b""}
        if any(route.matches(probe)[0] == Match.FULL for route in getattr(app, "routes", [])):
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    if methods:
        methods.add("OPTIONS")
    return sorted(methods)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_problem(send: Send, status: int, detail: str, scope: Scope, **fields: Any) -> None:
    body = json.dumps(problem_body(status, detail, instance=scope.get("path"), **fields)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
