"""The review console: one page (`/api/console`) with its scripts and styles,
bundled in the package (no build step, no CDN), and who the caller is
(`/api/me`), which the console asks first to know whose actions to offer.

The page and its assets hold no data and need no credentials, so a reload or
a bookmark always gets the page; every read and action it makes is an API call
with the key the user signed in with (kept in the tab's sessionStorage, sent
as X-API-Key, never in a URL) or, in Azure, the App Service principal.
`/` and `/api`, the address `oms serve` prints, lead to the console.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from common.api.auth import API_KEY_HEADER, PRINCIPAL_HEADER, Role, identify
from common.api.console_schemas import Me
from common.api.deps import settings_of
from common.api.problems import ProblemError

api = APIRouter(tags=["console"])

CONSOLE = (Path(__file__).resolve().parent.parent / "static" / "console").resolve()
MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
NO_CACHE = {"Cache-Control": "no-cache"}


@api.get("/api/console", include_in_schema=False)
def console() -> FileResponse:
    return FileResponse(CONSOLE / "index.html", media_type="text/html", headers=NO_CACHE)


@api.get("/api/console/assets/{path:path}", include_in_schema=False)
def console_asset(path: str) -> FileResponse:
    found = (CONSOLE / path).resolve()
    if not found.is_relative_to(CONSOLE) or found.suffix not in MEDIA_TYPES or not found.is_file():
        raise ProblemError(404, f"no console asset {path!r}", kind="not-found")
    return FileResponse(found, media_type=MEDIA_TYPES[found.suffix], headers=NO_CACHE)


@api.get("/", include_in_schema=False)
@api.get("/api", include_in_schema=False)
def home() -> RedirectResponse:
    return RedirectResponse("/api/console", status_code=307)


@api.get("/api/me", response_model=Me, summary="Who the caller is, and which roles' routes it may use",
         description="Without credentials: 200 with `user` null (nobody is signed in), so a page can ask "
                     "without an error; with credentials that are not valid: 401.")
def me(request: Request) -> Me:
    if not any(request.headers.get(name) for name in (API_KEY_HEADER, PRINCIPAL_HEADER)):
        return Me(user=None, roles=[], via=None, acts_as=[])
    identity = identify(request.headers, settings_of(request))
    return Me(user=identity.user, roles=sorted(identity.roles), via=identity.via,
              acts_as=[role.value for role in Role if identity.has(role)])
