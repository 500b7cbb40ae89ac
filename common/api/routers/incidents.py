"""Incidents: read them (viewer), move them through their lifecycle and post
updates for stakeholders (operator), and manage who hears of them (operator).
docs/incidents.md has the tables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import correlation_id, router
from common.domain.incidents import (
    NOT_BLANK,
    Incident,
    IncidentAudit,
    IncidentInvalid,
    IncidentRefused,
    Subscription,
)
from common.service import incidents, stakeholders
from common.service.stakeholders import MAIL_PATTERN, WEBHOOK_PATTERN

api = router("incidents")

IfMatch = Annotated[str | None, Header(alias="If-Match", description="the incident's ETag, quoted or bare")]
Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=NOT_BLANK)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgeIn(_Body):
    note: Text | None = None
    eta: datetime | None = Field(None, description="when operations expect it resolved (with a time zone)")


class MitigateIn(_Body):
    note: Text | None = Field(None, description="what was done to limit the impact")
    root_cause: Text | None = None
    eta: datetime | None = None


class ResolveIn(_Body):
    root_cause: Text
    resolution: Text = Field(description="what was done, and what remains for whom")
    note: Text | None = None


class UpdateIn(_Body):
    note: Text
    eta: datetime | None = None


class IncidentPage(BaseModel):
    items: list[Incident]
    continuation: str | None = None


class IncidentAuditList(BaseModel):
    items: list[IncidentAudit]


Scope = Annotated[str, Field(min_length=1, max_length=128, pattern=NOT_BLANK)]


def _absent() -> Any:
    """A field left out: None (typed as the field, which refuses an explicit null)."""
    return None


class SubscriptionIn(_Body):
    """Exactly one scope and one channel, as the document says (`oneOf`). A
    field left out is None; an explicit null is refused (not a string)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"allOf": [
        {"oneOf": [{"required": ["market"]}, {"required": ["project_id"]}]},
        {"oneOf": [{"required": ["mail"]}, {"required": ["webhook"]}]}]})

    market: Scope = Field(default_factory=_absent, description='a market, or "*" for every incident')
    project_id: Scope = Field(default_factory=_absent)
    mail: Annotated[str, Field(max_length=254, pattern=MAIL_PATTERN)] = Field(default_factory=_absent)
    webhook: Annotated[str, Field(max_length=2048, pattern=WEBHOOK_PATTERN)] = Field(default_factory=_absent)
    name: Annotated[str, Field(max_length=200)] = Field(default_factory=_absent)


class SubscriptionList(BaseModel):
    items: list[Subscription]


def _with_etag(response: Response, incident: Incident) -> Incident:
    if incident.etag:
        response.headers["ETag"] = f'"{incident.etag}"'
    return incident


def _found(deps: Deps, incident_id: str) -> Incident:
    try:
        return incidents.get(deps, incident_id)
    except incidents.IncidentNotFound as error:
        raise ProblemError(404, str(error), kind="not-found") from error


def _change(deps: Deps, incident_id: str, action: str, identity: Identity, request: Request, response: Response,
            if_match: str | None, **fields: object) -> Incident:
    _found(deps, incident_id)  # 404 before anything else
    try:
        done = incidents.change(deps, incident_id, action, actor=identity.actor, if_match=if_match,
                                correlation_id=correlation_id(request), **fields)  # type: ignore[arg-type]
    except IncidentRefused as error:
        raise ProblemError(409, error.message, kind="illegal-transition", current_status=error.current.value,
                           action=error.action) from error
    except incidents.IncidentConflict as error:
        raise ProblemError(412, str(error), kind="precondition-failed") from error
    except IncidentInvalid as error:
        raise ProblemError(422, error.message, kind="validation-error", errors=error.reasons) from error
    return _with_etag(response, done)


@api.get("/incidents", response_model=IncidentPage, summary="Incidents, newest first")
def list_incidents(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    status: Literal["open", "acknowledged", "mitigated", "resolved", "live"] | None = None,
    market: Annotated[str | None, Query(max_length=128)] = None,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    continuation: Annotated[str | None, Query(max_length=1024)] = None,
) -> IncidentPage:
    try:
        page = deps.store.list_incidents(status, market, project_id, limit, continuation)
    except ValueError as error:
        raise ProblemError(422, "the continuation token is not valid", kind="validation-error",
                           errors=[{"loc": ["query", "continuation"], "msg": "not a continuation token"}]) from error
    return IncidentPage(items=page.items, continuation=page.continuation)


@api.get("/incidents/{incident_id}", response_model=Incident, summary="Read an incident (with its ETag)")
def get_incident(
    incident_id: str, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> Incident:
    return _with_etag(response, _found(deps, incident_id))


@api.get("/incidents/{incident_id}/audit", response_model=IncidentAuditList,
         summary="The incident's changes, oldest first")
def incident_audit(
    incident_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> IncidentAuditList:
    _found(deps, incident_id)
    return IncidentAuditList(items=deps.store.incident_audit(incident_id))


@api.post("/incidents/{incident_id}/acknowledge", response_model=Incident, summary="open -> acknowledged")
def acknowledge(
    incident_id: str, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
    body: Annotated[AcknowledgeIn | None, Body()] = None,
    if_match: IfMatch = None,
) -> Incident:
    body = body or AcknowledgeIn()
    return _change(deps, incident_id, "acknowledge", identity, request, response, if_match, note=body.note,
                   eta=body.eta)


@api.post("/incidents/{incident_id}/mitigate", response_model=Incident,
          summary="open or acknowledged -> mitigated")
def mitigate(
    incident_id: str, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
    body: Annotated[MitigateIn | None, Body()] = None,
    if_match: IfMatch = None,
) -> Incident:
    body = body or MitigateIn()
    return _change(deps, incident_id, "mitigate", identity, request, response, if_match, note=body.note,
                   root_cause=body.root_cause, eta=body.eta)


@api.post("/incidents/{incident_id}/resolve", response_model=Incident,
          summary="-> resolved, with root cause and resolution (final)")
def resolve(
    incident_id: str, body: ResolveIn, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
    if_match: IfMatch = None,
) -> Incident:
    return _change(deps, incident_id, "resolve", identity, request, response, if_match, note=body.note,
                   root_cause=body.root_cause, resolution=body.resolution)


@api.post("/incidents/{incident_id}/updates", response_model=Incident,
          summary="Post an update to the incident's stakeholders (no status change)")
def post_update(
    incident_id: str, body: UpdateIn, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
    if_match: IfMatch = None,
) -> Incident:
    return _change(deps, incident_id, "update", identity, request, response, if_match, note=body.note, eta=body.eta)


# ------------------------------------------------------------ subscriptions
@api.get("/incident-subscriptions", response_model=SubscriptionList,
         summary="Who hears of incidents (settings and added ones)")
def list_subscriptions(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.OPERATOR))],
) -> SubscriptionList:
    return SubscriptionList(items=stakeholders.all_subscriptions(deps))


@api.post("/incident-subscriptions", response_model=Subscription, status_code=201,
          summary="Subscribe a mail address or webhook to a market's or project's incidents",
          responses={200: {"model": Subscription, "description": "The same subscriber and scope exist already"}})
def subscribe(
    body: SubscriptionIn, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
) -> Subscription:
    try:
        subscription, created = stakeholders.subscribe(deps, market=body.market, project_id=body.project_id,
                                                       mail=body.mail, webhook=body.webhook, name=body.name,
                                                       actor=identity.actor)
    except stakeholders.SubscriptionInvalid as error:
        raise ProblemError(422, "the subscription is not valid", kind="validation-error",
                           errors=error.reasons) from error
    if not created:
        response.status_code = 200  # the same subscriber and scope exist already
    response.headers["Location"] = f"/api/incident-subscriptions/{subscription.subscription_id}"
    return subscription


@api.delete("/incident-subscriptions/{subscription_id}", status_code=204, response_class=Response,
            summary="Remove a subscription")
def unsubscribe(
    subscription_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.OPERATOR))],
) -> Response:
    if deps.store.delete_subscription(subscription_id):
        return Response(status_code=204)
    if any(s.subscription_id == subscription_id for s in stakeholders.from_settings(deps)):
        raise ProblemError(409, f"subscription {subscription_id} comes from OMS_INCIDENT_SUBSCRIBERS; "
                                "remove it there", kind="conflict")
    raise ProblemError(404, f"subscription {subscription_id} not found", kind="not-found")
