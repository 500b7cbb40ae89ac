"""What every router shares: the route class, the request correlation id and
the problem responses declared in the OpenAPI document."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator

from common.api.bodies import parse_json
from common.api.deps import Deps, GuardedRoute
from common.api.problems import ProblemError
from common.ports import NotAToken


def router(tag: str) -> APIRouter:
    return APIRouter(prefix="/api", tags=[tag], route_class=GuardedRoute)


CONTINUATION_DOC = ("Opaque token from the previous page's `continuation`, for this same list and filters; "
                    "absent on the last page. Any other value is refused with 422.")
Continuation = Annotated[str | None, Query(max_length=1024, description=CONTINUATION_DOC)]
T = TypeVar("T")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: Any) -> Any:
    # pydantic reads "0.5" as seconds since 1970: the document says date-time.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("an ISO 8601 date-time is needed, e.g. 2026-11-20T08:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]


def paged(read: Callable[[], T]) -> T:
    """A page of a list; a continuation token the store did not make for it is a 422."""
    try:
        return read()
    except NotAToken as error:
        raise ProblemError(422, "the continuation token is not valid", kind="validation-error",
                           errors=[{"loc": ["query", "continuation"], "msg": "not a continuation token",
                                    "type": "invalid_continuation"}]) from error


async def store_read(deps: Deps, read: Callable[[], T]) -> T:
    """A route's store read. On the embedded store it runs right here, on the
    event loop: the read is a few SQLite pages in memory, CPU under the GIL
    wherever it runs, and the hop to the thread pool and back cost more than
    the read itself (an order by id: 750 -> 1,400 req/s in bench/http_reads.py).
    It does wait, loop and all, while another thread of the process holds the
    store for a write (an allocation chunk, an ingest): `oms serve --workers N`
    keeps those in the parent, away from the processes that serve HTTP.
    Cosmos DB reads wait on the network: they go to the thread pool, so the
    loop serves other requests meanwhile."""
    if deps.settings.store == "sqlite":
        return read()
    return await run_in_threadpool(read)


def correlation_id(request: Request) -> str:
    """The caller's `X-Correlation-Id` / `X-Request-Id`, or a fresh one; it
    ends up in the audit entries the request causes."""
    given = request.headers.get("x-correlation-id") or request.headers.get("x-request-id")
    if given and 0 < len(given) <= 128 and given.isprintable():
        return given
    return f"http-{uuid.uuid4().hex}"


async def json_body(request: Request) -> Any:
    """The body as JSON (bounded: common.api.bodies): 400 when it is not, an
    empty body included (it is not a JSON text, and an empty intake body is
    no event to quarantine), 422 when the decoder refuses it."""
    raw = await request.body()
    if not raw.strip():
        raise ProblemError(400, "the request body is empty: send JSON", kind="malformed-body")
    return parse_json(raw)
