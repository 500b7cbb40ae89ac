"""The order-flow dashboard: a static page (no CDN, works offline) and the
data it shows, `GET /api/metrics/flow`.

The page and its assets hold no data and need no credentials, so a reload or
a bookmark always gets the page; its script asks for the metrics with the key
the user signed in with in this tab (sessionStorage, shared with the review
console, sent as `X-API-Key`) or, in Azure, the App Service principal. A key
is never taken from the URL: an old `?key=` link is sent on without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import router
from common.service.handlers.metrics import flow_metrics

api = router("dashboard")

STATIC = Path(__file__).resolve().parent.parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
NO_STORE = {"Cache-Control": "no-cache"}


@api.get("/metrics/flow", summary="Order flow: states, ages against SLA, breaches, throughput, jobs, quarantine")
def metrics_flow(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    days: Annotated[int, Query(ge=1, le=90, description="days of throughput to show")] = 14,
) -> dict[str, Any]:
    return flow_metrics(deps, days=days)


@api.get("/dashboard", response_class=HTMLResponse,
         summary="The dashboard page (HTML, no data; its script reads /api/metrics/flow as a viewer)",
         responses={303: {"description": "a key in the URL: the same page without it (the key is not used)"}})
def dashboard(request: Request) -> Response:
    if "key" in request.query_params:
        return RedirectResponse("/api/dashboard", status_code=303)
    return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"), headers=NO_STORE)


@api.get("/dashboard/{asset}", include_in_schema=False)
def dashboard_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise ProblemError(404, f"no dashboard asset {asset!r}", kind="not-found")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=NO_STORE)
