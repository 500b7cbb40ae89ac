"""What surrounds an order, in one read for the console's order page: its
project's master facts, its site's clearance, its reservation, its outbox
events, the last allocation's explanation and the orders that follow it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from common.api.auth import Identity
from common.api.console_schemas import OrderContextOut
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import router
from common.service.handlers.order_context import order_context

api = router("orders")


@api.get("/orders/{order_id}/context", response_model=OrderContextOut,
         summary="The order with its project facts, clearance, reservation, events, last allocation, follow-ups")
def context(
    order_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> OrderContextOut:
    found = order_context(deps, order_id)
    if found is None:
        raise ProblemError(404, f"order {order_id} not found", kind="not-found")
    return OrderContextOut.of(found)
