"""Orders: list, read, edit, add items, approve, reject, cancel, reprocess,
and each order's audit trail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
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
# read through `store_read` and answer JSON they made themselves.
@api.get("/orders", response_model=OrderPage, summary="List orders")
async def list_orders(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    status: OrderStatus | None = None,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
    site_code: Annotated[str | None, Query(max_length=128)] = None,
    market: Annotated[str | None, Query(max_length=128)] = None,
    kind: OrderKind | None = None,
    updated_since: IsoDateTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    continuation: Continuation = None,
) -> Response:
    query = OrderQuery(status=status.value if status else None, project_id=project_id, site_code=site_code,
                       market=market, kind=kind.value if kind else None, updated_since=updated_since,
                       limit=limit, continuation=continuation)

    def page() -> bytes:
        found = paged(lambda: deps.store.query_order_docs(query))
        return order_docs_page_json(found.items, found.continuation)

    return _json(await store_read(deps, page))


@api.get("/orders/{order_id}", response_model=OrderOut, summary="Read an order (with its ETag)")
async def get_order(
    order_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> Response:
    def read() -> tuple[bytes, str | None] | None:
        order = deps.store.get_order(order_id)
        return None if order is None else (order_json(order), order.etag)

    found = await store_read(deps, read)
    if found is None:
        raise ProblemError(404, f"order {order_id} not found", kind="not-found")
    body, etag = found
    return _json(body, {"ETag": f'"{etag}"'} if etag else None)


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
