"""How routes get the process's dependencies and the caller's identity.

Routes ask for `provide_deps` through FastAPI's `Depends`; tests swap it with
`set_deps` or `app.dependency_overrides[provide_deps]`. The role check and the
body-size guard resolve it the same way, so one override covers them all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.responses import Response

from common.api.auth import Identity, Role, RoleDependency, authorize, identify
from common.api.bodies import parse_json
from common.config import Settings
from common.service.bootstrap import Deps, get_deps


async def provide_deps() -> Deps:
    """async so FastAPI calls it on the event loop: a sync dependency is a
    thread-pool hop on every request, for what is a lookup once the process
    has its dependencies (the first call may build them, once per process)."""
    return get_deps()


def deps_of(app: Starlette | Any) -> Deps:
    """The dependencies a route of `app` gets: the override of
    `provide_deps` (a plain function) when a test set one, else the process's."""
    provider = getattr(app, "dependency_overrides", {}).get(provide_deps)
    deps: Deps = provider() if provider is not None else get_deps()
    return deps


def _settings(request: Request) -> Settings:
    return deps_of(request.app).settings


settings_of = _settings


def require(role: Role) -> RoleDependency:
    return RoleDependency(role, _settings)


# A fast lane: what a busy read answers, for the requests it can read
# exactly as FastAPI would, without FastAPI's per-request work (solving the
# dependencies of the route one by one: the store, the role, its sub-
# dependency the key header, then each query parameter validated on its
# own; for the list of orders, most of the request's time). The lane is
# called after the route's role check, with the request; it answers, or
# says None and the route's FastAPI handler answers (anything unusual:
# a parameter it does not read, a value it does not parse, one given twice).
# Either way the same bytes: the lane and the endpoint call one function.
FastLane = Callable[[Request], Awaitable[Response | None]]
E = TypeVar("E", bound=Callable[..., Any])
_LANES: dict[Callable[..., Any], FastLane] = {}


def fast_lane(lane: FastLane) -> Callable[[E], E]:
    """`@fast_lane(lane)` under the route decorator: `lane` answers the
    route's GET requests it can (see above) before FastAPI's handler."""

    def mark(endpoint: E) -> E:
        _LANES[endpoint] = lane
        return endpoint

    return mark


class GuardedRoute(APIRoute):
    """A route whose role check runs before FastAPI reads and validates the
    body: a caller without credentials gets 401 (without the role 403) for any
    request, well-formed or not, and nothing of it is looked at. Then a JSON
    body goes through the bounded decoder (common.api.bodies) before FastAPI
    parses it, so no route can be handed a value that poisons `json.loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = [d.call for d in self.dependant.dependencies if isinstance(d.call, RoleDependency)]
        role = checks[0].role if checks else None
        lane = _LANES.get(self.endpoint) if self.methods == {"GET"} else None

        async def guarded(request: Request) -> Response:
            if role is not None:
                identity = identify(request.headers, _settings(request))
                request.state.identity = identity
                authorize(identity, role)
            if lane is not None:
                answer = await lane(request)
                if answer is not None:
                    return answer
            if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get("content-type", ""):
                raw = await request.body()  # Starlette keeps it for the handler
                if raw.strip():
                    parse_json(raw, syntax_errors=False)
            return await handler(request)

        return guarded


__all__ = ["Deps", "FastLane", "GuardedRoute", "Identity", "Role", "deps_of", "fast_lane", "provide_deps", "require"]
