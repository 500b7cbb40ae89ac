"""The interactive API docs, offline: Swagger UI at `/api/docs` and ReDoc at
`/api/redoc`, with their scripts and styles served by the app itself from the
`fastapi-offline` package (requirements.txt) instead of a CDN, so the pages
work without internet access, as `oms serve` and the Function app both run."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from common.api.problems import ProblemError

api = APIRouter(include_in_schema=False)

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
          "redoc.standalone.js": "text/javascript", "favicon.png": "image/png"}
OPENAPI_URL = "/api/openapi.json"
ASSET_URL = "/api/docs/assets"
TITLE = "Telecom OMS review API"
# No online validator badge: it would call out to the internet for every page.
SWAGGER_PARAMETERS = {"validatorUrl": None, "persistAuthorization": False, "tryItOutEnabled": False}


@api.get("/api/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{TITLE} · Swagger UI",
                               swagger_js_url=f"{ASSET_URL}/swagger-ui-bundle.js",
                               swagger_css_url=f"{ASSET_URL}/swagger-ui.css",
                               swagger_favicon_url=f"{ASSET_URL}/favicon.png",
                               swagger_ui_parameters=SWAGGER_PARAMETERS)


@api.get("/api/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{TITLE} · ReDoc",
                          redoc_js_url=f"{ASSET_URL}/redoc.standalone.js",
                          redoc_favicon_url=f"{ASSET_URL}/favicon.png", with_google_fonts=False)


@api.get("/api/docs/assets/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise ProblemError(404, f"no docs asset {name!r}", kind="not-found")
    return FileResponse(ASSETS_DIR / name, media_type=ASSETS[name],
                        headers={"Cache-Control": "public, max-age=86400"})
