"""Splitting one partition's changes into Cosmos DB transactional batches
(at most 100 operations): everything an event caused stays in one batch."""

from __future__ import annotations

from common.adapters.cosmos.batching import MAX_OPERATIONS, Op, groups, plan


def op(*labels: str, conditional: bool = False) -> Op:
    return Op(("create", ({"id": "x"},)), list(labels), conditional=conditional)


def test_changes_that_fit_go_in_one_batch_in_their_order() -> None:
    ops = [op("order:a"), op("order:b"), op()]
    assert plan(ops) == [ops]


def test_an_event_its_orders_audit_and_outbox_form_one_group() -> None:
    marker, audit, order, outbox, other = (op("event:e1"), op("order:o1", "event:e1"), op("order:o1", "stream:s"),
                                           op("order:o1"), op("order:o2"))
    found = groups([marker, audit, order, outbox, other])
    assert [marker, audit, order, outbox] in found and [other] in found


def test_over_100_operations_are_split_without_splitting_a_group() -> None:
    ops = []
    for i in range(60):
        ops += [op(f"event:e{i}"), op(f"order:o{i}", f"event:e{i}"), op(f"order:o{i}")]
    batches = plan(ops)
    assert len(batches) == 2 and all(len(b) <= MAX_OPERATIONS for b in batches)
    assert sum(len(b) for b in batches) == 180
    for i in range(60):
        homes = {n for n, batch in enumerate(batches) for o in batch if f"order:o{i}" in o.labels
                 or f"event:e{i}" in o.labels}
        assert len(homes) == 1


def test_a_group_too_big_for_one_batch_puts_its_conditional_writes_first() -> None:
    ops = [op("stream:s") for _ in range(150)] + [op("stream:s", conditional=True)]
    batches = plan(ops)
    assert len(batches) == 2 and batches[0][0].conditional
