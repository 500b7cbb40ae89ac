"""The store contract of the work queue's reads (common/ports.py): orders by
how long they have waited in their status, counts per status, quarantine by
source. Every store adapter passes these unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.domain.models import OrderStatus, QuarantineRecord, Reason
from common.ports import OrderQuery, Store
from tests.adapters.test_store_contract import T0, assert_paged, create, make_order, read_pages


def waiting(store: Store) -> list[str]:
    """Seven orders that entered their status an hour apart (the fourth never
    recorded when: it counts from its creation), in three statuses."""
    ids = []
    for n in range(7):
        status = (OrderStatus.DRAFT, OrderStatus.APPROVED, OrderStatus.RELEASED)[n % 3]
        order = make_order(f"PRJ-{n % 2}", n, status=status, at=T0 - timedelta(hours=n))
        if n != 3:
            order.status_since = T0 - timedelta(hours=n)
        order.updated_at = T0 + timedelta(minutes=n)  # a later edit does not restart the clock
        assert create(store, order).ok
        ids.append(order.order_id)
    return ids


def test_orders_that_entered_their_status_before_its_cutoff_are_the_only_ones_found(store: Store) -> None:
    ids = waiting(store)

    def found(**cutoffs: timedelta) -> set[str]:
        query = OrderQuery(entered_before={status: T0 - age for status, age in cutoffs.items()})
        return {o.order_id for o in store.query_orders(query).items}

    # Draft: 0, 3, 6 hours; Approved: 1, 4; Released: 2, 5.
    assert found(Draft=timedelta(hours=2)) == {ids[3], ids[6]}
    assert found(Draft=timedelta(hours=2), Released=timedelta(hours=4)) == {ids[3], ids[6], ids[5]}
    assert found(Approved=timedelta(hours=4)) == set()  # entered exactly at the cutoff: not before it
    assert found() == set()  # no status listed: none
    both = OrderQuery(project_id="PRJ-0", entered_before={"Draft": T0 - timedelta(minutes=1)})
    assert {o.order_id for o in store.query_orders(both).items} == {ids[6]}


@pytest.mark.parametrize("size", [1, 2, 5])
def test_orders_sorted_by_entry_page_longest_waiting_first_each_once(store: Store, size: int) -> None:
    ids = waiting(store)
    everyone = {s.value: T0 + timedelta(days=1) for s in OrderStatus}

    pages = read_pages(lambda n, token: store.query_orders(
        OrderQuery(sort="entered", entered_before=everyone, limit=n, continuation=token)), size)

    assert_paged([[o.order_id for o in page] for page in pages], ids[::-1], size)


def test_an_entry_order_token_is_refused_by_the_other_order_and_the_reverse(store: Store) -> None:
    waiting(store)
    by_entry = store.query_orders(OrderQuery(sort="entered", limit=1)).continuation
    assert by_entry is not None
    with pytest.raises(ValueError):
        store.query_orders(OrderQuery(sort="entered", continuation="bm90LWEtdG9rZW4="))
    by_id = store.query_orders(OrderQuery(limit=1)).continuation
    assert by_id is not None
    with pytest.raises(ValueError):
        store.query_orders(OrderQuery(sort="entered", continuation=by_id))


def test_orders_are_counted_per_status_with_the_same_filters(store: Store) -> None:
    waiting(store)

    assert store.count_orders(OrderQuery()) == {"Draft": 3, "Approved": 2, "Released": 2}
    assert store.count_orders(OrderQuery(project_id="PRJ-1")) == {"Approved": 1, "Draft": 1, "Released": 1}
    assert store.count_orders(OrderQuery(status="Released", limit=1)) == {"Released": 2}
    assert store.count_orders(OrderQuery(entered_before={"Draft": T0 - timedelta(hours=2)})) == {"Draft": 2}
    assert store.count_orders(OrderQuery(market="nowhere")) == {}


def test_quarantine_is_listed_by_source(store: Store) -> None:
    for n, source in enumerate(["engineering-events", "warehouse-events", "engineering-events", "stock-snapshots"]):
        store.put_quarantine(QuarantineRecord(id=f"q-{n}", source=source, received_at=T0 + timedelta(minutes=n),
                                              reasons=[Reason(msg="bad")], payload=n))
    done = store.get_quarantine("q-0")
    assert done is not None
    store.put_quarantine(done.model_copy(update={"status": "reprocessed"}))

    assert [r.id for r in store.list_quarantine(source="engineering-events").items] == ["q-2", "q-0"]
    assert [r.id for r in store.list_quarantine("open", source="engineering-events").items] == ["q-2"]
    assert [r.id for r in store.list_quarantine(source="nothing").items] == []
    pages = read_pages(lambda n, token: store.list_quarantine(limit=n, continuation=token,
                                                              source="engineering-events"), 1)
    assert_paged([[r.id for r in page] for page in pages], ["q-2", "q-0"], 1)
