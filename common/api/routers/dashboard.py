"""The order-flow dashboard: a static page (no CDN, works offline) and the
data it shows, `GET /api/metrics/flow`.

The page needs the viewer role like any other read (CONTRACT.md). A browser
cannot add a header when it navigates, so besides `X-API-Key` (or the App
Service principal) the page takes the key as `?key=`; its script then asks for
the metrics with that key. The two static assets hold no data and need none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.datastructures import MutableHeaders

from common.api.auth import API_KEY_HEADER, Identity, authorize, identify
from common.api.deps import Deps, Role, provide_deps, require, settings_of
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


@api.get("/dashboard", response_class=HTMLResponse, summary="The dashboard page (HTML; viewer role)",
         responses={401: {"description": "no credentials"}, 403: {"description": "not a viewer"}})
def dashboard(
    request: Request,
    key: Annotated[str | None, Query(description="a viewer's API key, for browsers (same as X-API-Key)")] = None,
) -> HTMLResponse:
    headers = MutableHeaders(raw=list(request.headers.raw))
    if key and API_KEY_HEADER not in headers:
        headers[API_KEY_HEADER] = key
    authorize(identify(headers, settings_of(request)), Role.VIEWER)
    return HTMLResponse((STATIC / "dashboard.html").read_text(encoding="utf-8"), headers=NO_STORE)


@api.get("/dashboard/{asset}", include_in_schema=False)
def dashboard_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise ProblemError(404, f"no dashboard asset {asset!r}", kind="not-found")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=NO_STORE)
