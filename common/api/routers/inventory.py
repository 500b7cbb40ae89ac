"""Stock per warehouse and SKU: on hand, reserved, available."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.routers.common import router
from common.api.schemas import InventoryPage, InventoryRow

api = router("inventory")


@api.get("/inventory", response_model=InventoryPage, summary="On hand, reserved and available stock")
def inventory(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    warehouse_id: Annotated[str | None, Query(max_length=128)] = None,
) -> InventoryPage:
    # No inventory store configured means no stock is known (yet): an empty list.
    rows = deps.inventory.stock(warehouse_id)
    return InventoryPage(items=[InventoryRow(warehouse_id=r.warehouse_id, sku=r.sku, on_hand=r.on_hand,
                                             reserved=r.reserved, available=r.available, as_of=r.as_of)
                                for r in rows])
