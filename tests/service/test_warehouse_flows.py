"""Streams through every warehouse path on the embedded store with the real
handlers (engineering ingest, review, allocation run, warehouse events).
After each step the order, its audit trail, its outbox and the stock are
exactly what DESIGN.md section 3 says."""

from __future__ import annotations

from common.domain.delta import has_quantities
from common.domain.models import Order, OrderStatus
from common.domain.orders import delivered
from common.service.bootstrap import Deps
from common.service.commands import EditOrder, LineInput, RunAllocation
from common.service.handlers.allocation import run_allocation
from common.service.handlers.review import edit_order
from tests.helpers.warehouse import (
    ORDER,
    PLANNER,
    approve,
    completed,
    design,
    on_hand,
    one,
    rejected,
    returned,
    stock_up,
)

S = OrderStatus
FOLLOW_UP = ORDER[:-1] + "2"


def trail(deps: Deps, order_id: str) -> list[tuple[str, str | None, str | None]]:
    return [(a.action, a.from_status.value if a.from_status else None, a.to_status.value if a.to_status else None)
            for a in deps.store.order_audit(order_id)]


def outbox(deps: Deps, order_id: str) -> list[str]:
    return [e.type.removeprefix("oms.order.") for e in deps.store.outbox_events(order_id)]


def allocate_and_release(deps: Deps) -> None:
    report = run_allocation(deps, RunAllocation(trigger="manual"))
    assert report.counts["allocated"] >= 1, report


def released_by_a_run(deps: Deps) -> None:
    """The sample design's order, approved and released by an allocation run
    from 10 of each SKU."""
    stock_up(deps, {"ANT-4T4R-B41": 10, "RRU-B41-160W": 10, "CBL-HYB-30M": 10})
    design(deps)
    approve(deps, ORDER)
    allocate_and_release(deps)


def reviewed_after_a_return(deps: Deps, *, cables_back: int, cables_again: int) -> Order:
    """The order released by a run and delivered; `cables_back` of its 6
    cables come back (the customer cancelled) and the planner edits it to
    `cables_again` cables: the order as the edit leaves it."""
    released_by_a_run(deps)
    one(deps, completed("wh-1"))
    one(deps, returned("wh-2", {"CBL-HYB-30M": cables_back}, reason="customer_cancellation"))
    return edit_order(deps, EditOrder(order_id=ORDER, actor=PLANNER, if_match=None,
                                      lines=[LineInput(sku="CBL-HYB-30M", qty=cables_again)]))


def test_design_to_closed_to_partial_and_full_return_to_a_follow_up_order(seeded: Deps) -> None:
    deps = seeded
    stock_up(deps, {"ANT-4T4R-B41": 10, "RRU-B41-160W": 10, "CBL-HYB-30M": 10})
    created = [("create", None, "Draft")]

    design(deps)
    order = deps.store.get_order(ORDER)
    assert order is not None
    assert (order.status, order.kind.value, order.quantities()) == (
        S.DRAFT, "standard", {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6})
    assert trail(deps, ORDER) == created
    assert outbox(deps, ORDER) == ["created"]

    approve(deps, ORDER)
    approved = [*created, ("approve", "Draft", "Approved")]
    assert trail(deps, ORDER) == approved
    assert outbox(deps, ORDER) == ["created", "approved"]
    assert on_hand(deps) == {"ANT-4T4R-B41": (10, 0), "RRU-B41-160W": (10, 0), "CBL-HYB-30M": (10, 0)}

    allocate_and_release(deps)
    released = [*approved, ("allocate", "Approved", "Allocated"), ("release", "Allocated", "Released")]
    assert deps.store.get_order(ORDER).status == S.RELEASED  # type: ignore[union-attr]
    assert trail(deps, ORDER) == released
    assert outbox(deps, ORDER) == ["created", "approved", "allocated", "release_requested"]
    assert on_hand(deps) == {"ANT-4T4R-B41": (10, 3), "RRU-B41-160W": (10, 3), "CBL-HYB-30M": (10, 6)}

    assert one(deps, completed("wh-1")).outcome.value == "applied"
    closed = [*released, ("complete", "Released", "Closed")]
    assert deps.store.get_order(ORDER).status == S.CLOSED  # type: ignore[union-attr]
    assert trail(deps, ORDER) == closed
    assert outbox(deps, ORDER)[-1] == "closed"
    assert on_hand(deps) == {"ANT-4T4R-B41": (7, 0), "RRU-B41-160W": (7, 0), "CBL-HYB-30M": (4, 0)}
    assert deps.inventory is not None and deps.inventory.reservations() == []

    assert one(deps, returned("wh-2", {"ANT-4T4R-B41": 1}, reason="damaged")).outcome.value == "applied"
    order = deps.store.get_order(ORDER)
    assert order is not None
    assert (order.status, order.returned) == (S.PARTIALLY_RETURNED, {"ANT-4T4R-B41": 1})
    partial = [*closed, ("return", "Closed", "PartiallyReturned")]
    assert trail(deps, ORDER) == partial
    assert deps.store.order_audit(ORDER)[-1].reason == "damaged"
    assert outbox(deps, ORDER)[-1] == "returned"
    assert on_hand(deps) == {"ANT-4T4R-B41": (8, 0), "RRU-B41-160W": (7, 0), "CBL-HYB-30M": (4, 0)}
    follow_up = deps.store.get_order(FOLLOW_UP)
    assert follow_up is not None
    assert (follow_up.kind.value, follow_up.status, follow_up.parent_order_id) == ("delta", S.DRAFT, ORDER)
    assert [(ln.sku, ln.qty, ln.source.value) for ln in follow_up.lines] == [("ANT-4T4R-B41", 1, "return")]
    assert trail(deps, FOLLOW_UP) == created
    assert outbox(deps, FOLLOW_UP) == ["created"]

    rest = {"ANT-4T4R-B41": 2, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}
    assert one(deps, returned("wh-3", rest, reason="customer_cancellation")).outcome.value == "applied"
    order = deps.store.get_order(ORDER)
    assert order is not None
    assert (order.status, order.returned) == (S.FULLY_RETURNED, {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3,
                                                                 "CBL-HYB-30M": 6})
    assert trail(deps, ORDER) == [*partial, ("return", "PartiallyReturned", "FullyReturned")]
    assert outbox(deps, ORDER)[-2:] == ["returned", "returned"]
    assert on_hand(deps) == {"ANT-4T4R-B41": (10, 0), "RRU-B41-160W": (10, 0), "CBL-HYB-30M": (10, 0)}
    assert deps.store.get_order(ORDER[:-1] + "3") is None  # customer_cancellation: no follow-up

    # The follow-up order goes the whole way on its own.
    approve(deps, FOLLOW_UP)
    allocate_and_release(deps)
    assert one(deps, completed("wh-4", order_id=FOLLOW_UP)).outcome.value == "applied"
    assert trail(deps, FOLLOW_UP) == closed
    assert on_hand(deps)["ANT-4T4R-B41"] == (9, 0)
    # Nothing more can come back from the fully returned order.
    assert one(deps, returned("wh-5", {"ANT-4T4R-B41": 1})).outcome.value == "quarantined"


def test_design_to_released_to_rejected_to_draft_to_reapproved_to_closed(seeded: Deps) -> None:
    deps = seeded
    released_by_a_run(deps)
    assert on_hand(deps) == {"ANT-4T4R-B41": (10, 3), "RRU-B41-160W": (10, 3), "CBL-HYB-30M": (10, 6)}
    released = [("create", None, "Draft"), ("approve", "Draft", "Approved"), ("allocate", "Approved", "Allocated"),
                ("release", "Allocated", "Released")]

    assert one(deps, rejected("wh-1", reason="config_mismatch")).outcome.value == "applied"
    order = deps.store.get_order(ORDER)
    assert order is not None
    assert (order.status, order.rejection_reason, order.approved_at) == (S.DRAFT, "config_mismatch", None)
    rejected_trail = [*released, ("warehouse_reject", "Released", "Draft")]
    assert trail(deps, ORDER) == rejected_trail
    assert deps.store.order_audit(ORDER)[-1].reason == "config_mismatch"
    assert outbox(deps, ORDER) == ["created", "approved", "allocated", "release_requested", "rejected"]
    assert on_hand(deps) == {"ANT-4T4R-B41": (10, 0), "RRU-B41-160W": (10, 0), "CBL-HYB-30M": (10, 0)}
    assert deps.inventory is not None and deps.inventory.reservations() == []

    approve(deps, ORDER)
    allocate_and_release(deps)
    assert one(deps, completed("wh-2")).outcome.value == "applied"
    order = deps.store.get_order(ORDER)
    assert order is not None
    assert (order.status, order.rejection_reason) == (S.CLOSED, None)
    assert trail(deps, ORDER) == [*rejected_trail, ("approve", "Draft", "Approved"),
                                  ("allocate", "Approved", "Allocated"), ("release", "Allocated", "Released"),
                                  ("complete", "Released", "Closed")]
    assert outbox(deps, ORDER)[-4:] == ["approved", "allocated", "release_requested", "closed"]
    assert on_hand(deps) == {"ANT-4T4R-B41": (7, 0), "RRU-B41-160W": (7, 0), "CBL-HYB-30M": (4, 0)}


def test_a_returned_order_is_reviewed_like_a_draft(seeded: Deps) -> None:
    deps = seeded
    edited = reviewed_after_a_return(deps, cables_back=6, cables_again=2)
    assert (edited.status, edited.quantities()) == (S.DRAFT, {"CBL-HYB-30M": 2})
    assert approve(deps, ORDER).status == S.APPROVED


def test_a_reviewed_returned_order_counts_its_first_delivery_once_it_is_delivered_again(seeded: Deps) -> None:
    """A returned order edited back to Draft re-orders what its new lines say;
    what stayed on site from its first delivery still counts, and later returns
    may reach the whole of what the order ever delivered."""
    deps = seeded
    # 3 ANT, 3 RRU and 2 of 6 cables stay on site; the planner re-orders 4 cables.
    edited = reviewed_after_a_return(deps, cables_back=4, cables_again=4)
    assert has_quantities([edited]) == {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}

    approve(deps, ORDER)
    allocate_and_release(deps)
    one(deps, completed("wh-3"))
    closed = deps.store.get_order(ORDER)
    assert closed is not None and closed.status == S.CLOSED
    assert delivered(closed) == {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 10}
    assert has_quantities([closed]) == {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6}

    # Everything still on site can come back, and then the order is fully returned.
    result = one(deps, returned("wh-4", {"ANT-4T4R-B41": 3, "RRU-B41-160W": 3, "CBL-HYB-30M": 6},
                                reason="customer_cancellation"))
    assert result.outcome.value == "applied", result.reasons
    assert deps.store.get_order(ORDER).status == S.FULLY_RETURNED  # type: ignore[union-attr]
