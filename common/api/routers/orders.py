"""Orders: list, read, edit, add items, approve, reject, cancel, reprocess,
and each order's audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from common.api.auth import Identity
from common.api.deps import Deps, Role, deps_of, fast_lane, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import (
    Continuation,
    IsoDateTime,
    correlation_id,
    json_body,
    paged,
    router,
    store_read,
)
from common.api.schemas import (
    AddItemsIn,
    ApproveIn,
    AuditPage,
    CancelIn,
    OrderOut,
    OrderPage,
    OrderPatch,
    RejectIn,
    ReprocessOut,
    order_docs_page_json,
    order_json,
)
from common.domain.models import LineSource, Order, OrderKind, OrderStatus
from common.ports import OrderQuery
from common.service.commands import (
    AddItems,
    ApproveOrder,
    CancelOrder,
    EditOrder,
    LineInput,
    RejectOrder,
    ReprocessOrder,
)
from common.service.handlers import review

api = router("orders")

IfMatch = Annotated[str | None, Header(alias="If-Match", description="the order's ETag, quoted or bare")]

PATCH_MEDIA_TYPES = ("application/json", "application/merge-patch+json")


def _with_etag(response: Response, order: Order) -> OrderOut:
    if order.etag:
        response.headers["ETag"] = f'"{order.etag}"'
    return OrderOut.of(order)


def _lines(items: list[Any]) -> list[LineInput]:
    return [LineInput(sku=i.sku, qty=i.qty, uom=i.uom,
                             source=LineSource(i.source) if i.source else None) for i in items]


def _json(body: bytes, headers: dict[str, str] | None = None) -> Response:
    """JSON the route made itself (common.api.schemas.order_json): FastAPI
    neither validates nor serializes it again."""
    return Response(body, media_type="application/json", headers=headers)


# The two busiest reads are async routes (a sync route costs two thread-pool
# hops: the endpoint, then FastAPI's validation of what it returned) that
# read through `store_read` and answer JSON they made themselves. Each has a
# fast lane (common.api.deps.fast_lane): the well-formed request, read as
# FastAPI reads it, answered by the same function without FastAPI's
# per-request solving of the route's dependencies and parameters.
async def _orders_page(deps: Deps, query: OrderQuery) -> Response:
    def page() -> bytes:
        found = paged(lambda: deps.store.query_order_docs(query))
        return order_docs_page_json(found.items, found.continuation)

    return _json(await store_read(deps, page))


async def _order(deps: Deps, order_id: str) -> Response:
    def read() -> tuple[bytes, str | None] | None:
        order = deps.store.get_order(order_id)
        return None if order is None else (order_json(order), order.etag)

    found = await store_read(deps, read)
    if found is None:
        raise ProblemError(404, f"order {order_id} not found", kind="not-found")
    body, etag = found
    return _json(body, {"ETag": f'"{etag}"'} if etag else None)


LIST_TEXT = {"project_id": 128, "site_code": 128, "market": 128, "continuation": 1024}  # their max_length
LIST_ENUMS: dict[str, frozenset[str]] = {"status": frozenset(s.value for s in OrderStatus),
                                         "kind": frozenset(k.value for k in OrderKind)}
LIST_DEFAULT_LIMIT = 100


def simple_list_query(pairs: list[tuple[str, str]]) -> OrderQuery | None:
    """The list's query from its query parameters, when each is one that
    reads the same here as in FastAPI's validation of `list_orders` (given
    once, not empty: a known status or kind, a text within its length, a
    limit of plain digits from 1 to 1000); None for anything else (then
    FastAPI reads it, and answers 422 where it is not valid)."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values or not value:
            return None
        if name in LIST_TEXT:
            if len(value) > LIST_TEXT[name]:
                return None
        elif name in LIST_ENUMS:
            if value not in LIST_ENUMS[name]:
                return None
        elif name == "limit":
            if not (value.isascii() and value.isdigit() and value[0] != "0" and len(value) <= 4
                    and int(value) <= 1000):
                return None
        else:
            return None  # updated_since (a date-time), or a parameter the route does not take
        values[name] = value
    return OrderQuery(status=values.get("status"), project_id=values.get("project_id"),
                      site_code=values.get("site_code"), market=values.get("market"), kind=values.get("kind"),
                      limit=int(values.get("limit", LIST_DEFAULT_LIMIT)), continuation=values.get("continuation"))


async def _list_lane(request: Request) -> Response | None:
    query = simple_list_query(request.query_params.multi_items())
    return None if query is None else await _orders_page(deps_of(request.app), query)


async def _get_lane(request: Request) -> Response:
    return await _order(deps_of(request.app), request.path_params["order_id"])


@api.get("/orders", response_model=OrderPage, summary="List orders")
@fast_lane(_list_lane)
async def list_orders(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    status: OrderStatus | None = None,
    project_id: Annotated[str | None, Query(max_length=LIST_TEXT["project_id"])] = None,
    site_code: Annotated[str | None, Query(max_length=LIST_TEXT["site_code"])] = None,
    market: Annotated[str | None, Query(max_length=LIST_TEXT["market"])] = None,
    kind: OrderKind | None = None,
    updated_since: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = LIST_DEFAULT_LIMIT,
    continuation: Continuation = None,
) -> Response:
    return await _orders_page(deps, OrderQuery(
        status=status.value if status else None, project_id=project_id, site_code=site_code, market=market,
        kind=kind.value if kind else None, updated_since=updated_since, limit=limit, continuation=continuation))


@api.get("/orders/{order_id}", response_model=OrderOut, summary="Read an order (with its ETag)")
@fast_lane(_get_lane)
async def get_order(
    order_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> Response:
    return await _order(deps, order_id)


@api.patch(
    "/orders/{order_id}", response_model=OrderOut, summary="Edit an order's lines and editable fields",
    openapi_extra={"requestBody": {"required": True, "content": {
        media: {"schema": {"$ref": "#/components/schemas/OrderPatch"}} for media in PATCH_MEDIA_TYPES}}},
)
async def patch_order(
    order_id: str, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.PLANNER))],
    if_match: IfMatch = None,
) -> OrderOut:
    # Preconditions before the body (CONTRACT.md): no If-Match, no look at it;
    # an unknown order or a stale ETag is answered before the body is read.
    if not if_match:
        raise ProblemError(428, "If-Match is required: send the ETag of the order as read",
                           kind="precondition-required")
    if_match = await run_in_threadpool(_current_etag, deps, order_id, if_match)
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in PATCH_MEDIA_TYPES:
        raise ProblemError(415, f"send {' or '.join(PATCH_MEDIA_TYPES)}", kind="unsupported-media-type")
    raw = await json_body(request)
    if not isinstance(raw, dict):
        raise ProblemError(422, "the patch must be a JSON object", kind="validation-error",
                           errors=[{"loc": ["body"], "msg": "expected an object"}])
    try:
        patch = OrderPatch.model_validate(raw)
    except ValidationError as error:
        raise ProblemError(422, "the patch is not valid", kind="validation-error",
                           errors=[{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                                   for e in error.errors()]) from error
    if "lines" in patch.model_fields_set and patch.lines is None:
        raise ProblemError(422, "lines cannot be removed; send the new line list", kind="validation-error",
                           errors=[{"loc": ["body", "lines"], "msg": "must be a list"}])
    fields = {name: getattr(patch, name) for name in patch.model_fields_set if name != "lines"}
    cmd = EditOrder(order_id=order_id, actor=identity.actor, if_match=if_match,
                           lines=_lines(patch.lines) if patch.lines is not None else None, fields=fields,
                           correlation_id=correlation_id(request))
    order = await run_in_threadpool(review.edit_order, deps, cmd)
    return _with_etag(response, order)


def _current_etag(deps: Deps, order_id: str, if_match: str) -> str:
    """The order's ETag when `If-Match` (one tag, `*`, or a list of tags) holds
    for it: 404 for an unknown order, 412 when no tag is current. The edit then
    runs against that very ETag, so a change in between is still a 412."""
    order = deps.store.get_order(order_id)
    if order is None:
        raise ProblemError(404, f"order {order_id} not found", kind="not-found")
    if not review.etag_matches(order.etag, if_match):
        raise ProblemError(412, f"order {order_id} changed since it was read (ETag {order.etag} is current)",
                           kind="precondition-failed")
    return order.etag or if_match


@api.post("/orders/{order_id}/items", response_model=OrderOut, summary="Add manual items")
def add_items(
    order_id: str, body: AddItemsIn, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.PLANNER))],
    if_match: IfMatch = None,
) -> OrderOut:
    order = review.add_items(deps, AddItems(order_id=order_id, actor=identity.actor, items=_lines(body.items),
                                                   if_match=if_match, correlation_id=correlation_id(request)))
    return _with_etag(response, order)


@api.post("/orders/{order_id}/approve", response_model=OrderOut, summary="Approve a Draft order")
def approve(
    order_id: str, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.APPROVER))],
    body: Annotated[ApproveIn | None, Body()] = None,
    if_match: IfMatch = None,
) -> OrderOut:
    order = review.approve_order(deps, ApproveOrder(
        order_id=order_id, actor=identity.actor, if_match=if_match, comment=body.comment if body else None,
        correlation_id=correlation_id(request)))
    return _with_etag(response, order)


@api.post("/orders/{order_id}/reject", response_model=OrderOut,
          summary="Send an Approved or returned order back to Draft")
def reject(
    order_id: str, body: RejectIn, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.APPROVER))],
    if_match: IfMatch = None,
) -> OrderOut:
    order = review.reject_order(deps, RejectOrder(
        order_id=order_id, actor=identity.actor, reason=body.reason, if_match=if_match,
        correlation_id=correlation_id(request)))
    return _with_etag(response, order)


@api.post("/orders/{order_id}/cancel", response_model=OrderOut, summary="Cancel a Draft order")
def cancel(
    order_id: str, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.PLANNER))],
    body: Annotated[CancelIn | None, Body()] = None,
    if_match: IfMatch = None,
) -> OrderOut:
    order = review.cancel_order(deps, CancelOrder(
        order_id=order_id, actor=identity.actor, reason=body.reason if body else None, if_match=if_match,
        correlation_id=correlation_id(request)))
    return _with_etag(response, order)


@api.post("/orders/{order_id}/reprocess", response_model=ReprocessOut,
          summary="Run the delta rules for the order's stream again with the latest data")
def reprocess(
    order_id: str, request: Request, response: Response,
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.PLANNER))],
    if_match: IfMatch = None,
) -> ReprocessOut:
    result = review.reprocess_order(deps, ReprocessOrder(
        order_id=order_id, actor=identity.actor, if_match=if_match, correlation_id=correlation_id(request)))
    if result.order is not None and result.order.order_id == order_id and result.order.etag:
        response.headers["ETag"] = f'"{result.order.etag}"'
    return ReprocessOut(outcome=result.outcome,
                        order_id=result.order_id, reasons=result.reasons,
                        order=OrderOut.of(result.order) if result.order else None)


@api.get("/orders/{order_id}/audit", response_model=AuditPage, summary="The order's audit trail, oldest first")
def order_audit(
    order_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> AuditPage:
    if deps.store.get_order(order_id) is None:
        raise ProblemError(404, f"order {order_id} not found", kind="not-found")
    return AuditPage(items=deps.store.order_audit(order_id))
