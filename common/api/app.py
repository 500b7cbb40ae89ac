"""The FastAPI application: one router per resource under `/api`, problem+json
for every error, and one OpenAPI 3.1 document at `/api/openapi.json`.

`create_app()` does no I/O: dependencies are resolved per request through
`common.api.deps.provide_deps`, so the Functions host can import it safely.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from common.api import access_log, problems
from common.api.deps import deps_of
from common.api.routers import (
    allocation,
    allocation_runs,
    api_docs,
    audit,
    console,
    dashboard,
    deadletters,
    health,
    incidents,
    intake,
    inventory,
    jobs,
    order_context,
    orders,
    projects,
    quarantine,
    replenishment,
    simulations,
    work_queue,
)
from common.api.schemas import OrderPatch, Problem

ROUTERS = (health, orders, audit, intake, allocation, projects, jobs, quarantine, deadletters, inventory, dashboard,
           incidents, replenishment, simulations)
# The review console's page and reads, and the offline API docs (docs/console.md).
CONSOLE_ROUTERS = (console, api_docs, work_queue, order_context, allocation_runs)

# Errors any route may answer, beside the ones FastAPI documents itself.
COMMON_ERRORS = {
    "400": "The body is not valid JSON",
    "413": "The body is larger than the configured limit",
    "422": "The request is not valid",
    "500": "Unexpected failure (a correlation id, no details)",
}
GUARDED_ERRORS = {"401": "No or unknown credentials", "403": "The caller lacks the role"}
ORDER_ERRORS = {
    "404": "No such resource",
    "409": "Illegal transition (names the current status) or state conflict",
    "412": "The If-Match ETag is stale",
    "428": "If-Match is required",
    "501": "Not available in this build",
    "415": "Unsupported media type",
}


def create_app() -> FastAPI:
    app = FastAPI(
        title="Telecom OMS review API",
        version="1.0.0",
        description="Orders from engineering designs: review, correct, approve, reprocess, and read what happened. "
                    "Errors are application/problem+json (RFC 9457).",
        openapi_url="/api/openapi.json",
        docs_url=None,  # served offline by common.api.routers.api_docs
        redoc_url=None,
    )
    for module in ROUTERS + CONSOLE_ROUTERS:
        app.include_router(module.api)
    problems.install(app)
    access_log.redact_keys_in_access_log()
    app.add_middleware(problems.GuardMiddleware, max_body_bytes=lambda: deps_of(app).settings.max_body_bytes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {problems.PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> None:
    """A model only read by hand (not a FastAPI body parameter), with its own
    nested models, in the document's components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, nested in schema.pop("$defs", {}).items():
        components.setdefault(name, nested)
    components[model.__name__] = schema


IF_MATCH_DOC = ("The order's ETag as read (quoted or bare), `*`, or a comma-separated list of ETags; compared "
                "strongly (a weak `W/` tag never matches). Stale: 412.")


# Which list's continuation token each paged route takes (the stores'
# cursor kinds, common/adapters/tokens.py): the document names it as the
# parameter's format, so a client (or a fuzzer) knows a token of one list is
# no token of another.
CONTINUATION_FORMATS = {"/api/orders": "orders", "/api/audit": "audit", "/api/projects": "projects",
                        "/api/quarantine": "quarantine", "/api/incidents": "incidents", "/api/queue": "orders"}


def _continuation(path: str, operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "query" and parameter.get("name") == "continuation" and path in CONTINUATION_FORMATS:
            for schema in (parameter.get("schema", {}), *parameter.get("schema", {}).get("anyOf", [])):
                if schema.get("type") == "string":
                    schema["format"] = f"oms-continuation-{CONTINUATION_FORMATS[path]}"


# OpenAPI links: how a client goes from one answer to the next request (an
# order named by the intake answer or a list, its ETag into If-Match, a run's
# report), so a client generator or a stateful test can walk the workflow.
ORDER = "/api/orders/{order_id}"
_FROM_BODY = "$response.body#/results/0/order_id"
_SAME_ORDER = {"order_id": "$request.path.order_id", "header.If-Match": "$response.header.ETag"}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("/api/events/engineering", "post", "200"): {
        "GetOrder": (ORDER, "get", {"order_id": _FROM_BODY}),
        "ApproveOrder": (f"{ORDER}/approve", "post", {"order_id": _FROM_BODY}),
        "AddItems": (f"{ORDER}/items", "post", {"order_id": _FROM_BODY}),
        "CancelOrder": (f"{ORDER}/cancel", "post", {"order_id": _FROM_BODY})},
    ("/api/orders", "get", "200"): {"GetOrder": (ORDER, "get", {"order_id": "$response.body#/items/0/order_id"})},
    (ORDER, "get", "200"): {
        "EditOrder": (ORDER, "patch", _SAME_ORDER),
        "ApproveOrder": (f"{ORDER}/approve", "post", _SAME_ORDER),
        "RejectOrder": (f"{ORDER}/reject", "post", _SAME_ORDER),
        "CancelOrder": (f"{ORDER}/cancel", "post", _SAME_ORDER),
        "OrderAudit": (f"{ORDER}/audit", "get", {"order_id": "$request.path.order_id"})},
    (f"{ORDER}/approve", "post", "200"): {
        "GetOrder": (ORDER, "get", {"order_id": "$request.path.order_id"}),
        "RejectOrder": (f"{ORDER}/reject", "post", _SAME_ORDER)},
    ("/api/allocation/runs", "post", "201"): {
        "GetRun": ("/api/allocation/runs/{run_id}", "get", {"run_id": "$response.body#/run_id"})},
}


def _links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {"operationId": paths[target][verb]["operationId"], "parameters": parameters}
            for name, (target, verb, parameters) in links.items() if verb in paths.get(target, {})}


def _required_body(operation: dict[str, Any]) -> None:
    """A body a route declares optional only to answer its absence itself
    (openapi_extra `required: true`) is not `null` either."""
    body = operation.get("requestBody", {})
    if not body.get("required"):
        return
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        kept = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
        if "anyOf" in schema and len(kept) == 1:
            media["schema"] = kept[0]


def _if_match(operation: dict[str, Any]) -> None:
    """If-Match is required where the route answers 428 without it (PATCH),
    optional on the action routes; both say what it accepts."""
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name", "").lower() == "if-match":
            required = operation.get("operationId", "").startswith("patch_order")
            parameter["required"] = required
            for schema in (parameter.get("schema", {}), *parameter.get("schema", {}).get("anyOf", [])):
                if schema.get("type") == "string":
                    schema["minLength"] = 1  # an empty If-Match is no ETag: 428 on PATCH, 412 elsewhere
            parameter["description"] = IF_MATCH_DOC + (" Required: without it, 428." if required else "")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with every error answer declared as problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, OrderPatch):
        _add_component(components, model)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            errors = dict(COMMON_ERRORS)
            if operation.get("security"):
                errors.update(GUARDED_ERRORS)
            if path != "/api/health":
                errors.update(ORDER_ERRORS)
            else:
                errors["503"] = "The store is not reachable"
            for status, description in errors.items():
                responses[status] = _problem_response(responses.get(status, {}).get("description") or description)
            _if_match(operation)
            _continuation(path, operation)
            _required_body(operation)
            if path == "/api/orders/{order_id}" and "200" in responses:
                responses["200"]["headers"] = {"ETag": {"description": "the order's etag in double quotes",
                                                        "schema": {"type": "string"}}}
    if "/api/health" in schema.get("paths", {}):
        schema["paths"]["/api/health"]["get"]["responses"]["503"]["content"] = {
            "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}
    _links(schema)
    app.openapi_schema = schema
    return schema
