"""Rules about stock that are not a verb of an order: whether a warehouse's
count adjustment may apply, and whether a reservation is the one an order's
current content needs. Pure."""

from __future__ import annotations

from common.domain.bounds import MAX_ON_HAND
from common.domain.models import Order, Reason, Reservation, StockRow
from common.domain.warehouse_inbound import StockAdjusted


def adjustment_problems(event: StockAdjusted, row: StockRow | None, *, sku_known: bool,
                        warehouse_known: bool) -> list[Reason]:
    """Why a `StockAdjusted` may not apply (empty when it may). The store
    would clamp at 0 and lose units silently, and `available` must never go
    negative: a count that needs either is for a person to look at."""
    problems: list[Reason] = []
    if not sku_known:
        problems.append(Reason(loc=["sku"], msg=f"SKU {event.sku} is not in the item catalogue", type="unknown_sku"))
    if not warehouse_known:
        problems.append(Reason(loc=["warehouse_id"], msg=f"warehouse {event.warehouse_id} is not known",
                               type="unknown_warehouse"))
        return problems
    on_hand, reserved = (row.on_hand, row.reserved) if row else (0, 0)
    after = on_hand + event.delta
    if after < 0:
        problems.append(Reason(loc=["delta"], msg=(f"would take on-hand of {event.sku} in {event.warehouse_id} "
                                                   f"from {on_hand} to {after}"), type="negative_stock"))
    elif after > MAX_ON_HAND:
        problems.append(Reason(loc=["delta"], msg=(f"would take on-hand of {event.sku} in {event.warehouse_id} "
                                                   f"to {after}, more than {MAX_ON_HAND}"), type="too_large"))
    elif after < reserved:
        problems.append(Reason(loc=["delta"], msg=(f"would take on-hand of {event.sku} in {event.warehouse_id} "
                                                   f"to {after}, below the {reserved} reserved"),
                               type="below_reserved"))
    return problems


def holds_reservation(reservation: Reservation, order: Order, warehouse: str | None = None) -> bool:
    """The reservation is for the order's current content (in its warehouse)."""
    wanted = {sku: qty for sku, qty in order.quantities().items() if qty}
    return reservation.lines == wanted and reservation.warehouse_id == (warehouse or order.warehouse_id)
