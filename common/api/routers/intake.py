"""Intake over HTTP: engineering events and warehouse callbacks, through the
same handlers as the Event Hub triggers (CONTRACT.md: intake routes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import json_body, router
from common.api.schemas import IntakeResponse, IntakeResult
from common.api.signing import SIGNATURE_HEADER, verify
from common.service.commands import ApplyWarehouseEvents, IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.warehouse import apply_warehouse_events

api = router("intake")


# An array may hold anything: members that are not event objects are
# quarantined one by one and reported (200), never refused with the batch.
_EVENTS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [{"type": "object"}, {"type": "array", "items": {}}]}}}}}


def _events(value: Any) -> list[Any]:
    """One event object or an array of them; anything else is a 422. Array
    members that are not objects go on to the handler, which quarantines them."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return value
    raise ProblemError(422, "the body must be one event object or an array of them", kind="validation-error",
                       errors=[{"loc": ["body"], "msg": f"expected an object or an array, got {type(value).__name__}"}])


def _results(report: Any) -> IntakeResponse:
    results = [r.to_json() if hasattr(r, "to_json") else r for r in getattr(report, "results", [])]
    job = getattr(report, "job", None)
    return IntakeResponse(results=[IntakeResult.model_validate(r) for r in results],
                          job_id=getattr(job, "job_id", None))


@api.post("/events/engineering", response_model=IntakeResponse, openapi_extra=_EVENTS_BODY,
          summary="Engineering events (one object or an array)")
async def engineering_events(
    request: Request,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.INTEGRATION))],
) -> IntakeResponse:
    events = _events(await json_body(request))
    cmd = IngestEngineeringEvents(events, channel="http", actor=identity.actor)
    report = await run_in_threadpool(ingest_engineering_events, deps, cmd)
    return _results(report)


def _check_signature(deps: Deps, request: Request, body: bytes) -> None:
    secret = deps.settings.webhook_secret
    if not secret:
        return
    if not verify(secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise ProblemError(401, f"{SIGNATURE_HEADER} does not match the body (HMAC-SHA256 with OMS_WEBHOOK_SECRET)",
                           kind="bad-signature")


@api.post("/warehouse/callbacks", response_model=IntakeResponse, openapi_extra=_EVENTS_BODY,
          summary="Warehouse events (one object or an array)")
async def warehouse_callbacks(
    request: Request,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.INTEGRATION))],
) -> IntakeResponse:
    _check_signature(deps, request, await request.body())
    events = _events(await json_body(request))
    cmd = ApplyWarehouseEvents(events, channel="http", actor=identity.actor)
    report = await run_in_threadpool(apply_warehouse_events, deps, cmd)
    return _results(report)
