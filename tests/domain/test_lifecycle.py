"""The order state machine against DESIGN.md's transition table.

The expected table is written out here, independently of `lifecycle.RULES`,
so that a change to the rules that the design does not allow fails a test.
"""

from __future__ import annotations

import itertools

import pytest

from common.domain.errors import IllegalTransition
from common.domain.lifecycle import ALLOWED, Action, allows, transition
from common.domain.models import OrderStatus

S = OrderStatus
A = Action

# (from, action, to): every row of DESIGN.md section 3 "States", with the
# action that performs it. Draft -> Draft edits and revisions are content
# changes; PartiallyReturned -> Partially/FullyReturned adds up several
# partial returns.
DESIGN_TABLE: frozenset[tuple[OrderStatus, Action, OrderStatus]] = frozenset({
    (S.DRAFT, A.APPROVE, S.APPROVED),
    (S.DRAFT, A.CANCEL, S.CANCELLED),
    (S.DRAFT, A.EDIT, S.DRAFT),
    (S.DRAFT, A.REVISE, S.DRAFT),
    (S.APPROVED, A.EDIT, S.DRAFT),
    (S.APPROVED, A.REVISE, S.DRAFT),
    (S.APPROVED, A.REJECT, S.DRAFT),
    (S.APPROVED, A.ALLOCATION_REJECT, S.DRAFT),
    (S.APPROVED, A.ALLOCATE, S.ALLOCATED),
    (S.ALLOCATED, A.RELEASE, S.RELEASED),
    (S.ALLOCATED, A.REVISE, S.DRAFT),
    (S.ALLOCATED, A.WAREHOUSE_REJECT, S.DRAFT),
    (S.RELEASED, A.COMPLETE, S.CLOSED),
    (S.RELEASED, A.WAREHOUSE_REJECT, S.DRAFT),
    (S.CLOSED, A.RETURN, S.PARTIALLY_RETURNED),
    (S.CLOSED, A.RETURN, S.FULLY_RETURNED),
    (S.PARTIALLY_RETURNED, A.RETURN, S.PARTIALLY_RETURNED),
    (S.PARTIALLY_RETURNED, A.RETURN, S.FULLY_RETURNED),
    (S.PARTIALLY_RETURNED, A.EDIT, S.DRAFT),
    (S.FULLY_RETURNED, A.EDIT, S.DRAFT),
    (S.PARTIALLY_RETURNED, A.REJECT, S.DRAFT),
    (S.FULLY_RETURNED, A.REJECT, S.DRAFT),
})

# DESIGN.md's table as (from, to) pairs, plus the repeated partial return.
DESIGN_PAIRS = frozenset({
    (S.DRAFT, S.APPROVED), (S.DRAFT, S.CANCELLED),
    (S.APPROVED, S.DRAFT), (S.APPROVED, S.ALLOCATED),
    (S.ALLOCATED, S.RELEASED), (S.ALLOCATED, S.DRAFT),
    (S.RELEASED, S.CLOSED), (S.RELEASED, S.DRAFT),
    (S.CLOSED, S.PARTIALLY_RETURNED), (S.CLOSED, S.FULLY_RETURNED),
    (S.PARTIALLY_RETURNED, S.DRAFT), (S.FULLY_RETURNED, S.DRAFT),
    (S.PARTIALLY_RETURNED, S.PARTIALLY_RETURNED), (S.PARTIALLY_RETURNED, S.FULLY_RETURNED),
})

ALL_TRIPLES = list(itertools.product(list(S), list(A), list(S)))


@pytest.mark.parametrize(("current", "action", "target"), sorted(DESIGN_TABLE), ids=str)
def test_every_row_of_the_design_table_is_allowed_through_its_action(
        current: OrderStatus, action: Action, target: OrderStatus) -> None:
    assert transition(current, action, target) == target
    assert allows(current, action)


@pytest.mark.parametrize(("current", "action", "target"),
                         [t for t in ALL_TRIPLES if t not in DESIGN_TABLE], ids=str)
def test_every_other_transition_is_refused_naming_the_current_status(
        current: OrderStatus, action: Action, target: OrderStatus) -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition(current, action, target)
    assert refused.value.current == current
    assert f"status {current.value}" in str(refused.value)
    assert refused.value.code == "illegal_transition"


@pytest.mark.parametrize(("current", "action", "target"),
                         [t for t in sorted(DESIGN_TABLE) if t[1] != A.RETURN], ids=str)
def test_a_single_target_action_needs_no_explicit_target(
        current: OrderStatus, action: Action, target: OrderStatus) -> None:
    assert transition(current, action) == target


def test_a_return_must_say_whether_it_is_partial_or_full() -> None:
    with pytest.raises(ValueError, match="explicit target"):
        transition(S.CLOSED, A.RETURN)


@pytest.mark.parametrize("current", [s for s in S if s not in {S.DRAFT}], ids=str)
def test_only_a_draft_order_can_be_approved(current: OrderStatus) -> None:
    assert not allows(current, A.APPROVE)
    with pytest.raises(IllegalTransition, match=f"status {current.value}"):
        transition(current, A.APPROVE)


@pytest.mark.parametrize("action", list(A), ids=str)
def test_a_cancelled_order_is_terminal(action: Action) -> None:
    for target in S:
        with pytest.raises(IllegalTransition, match="status Cancelled"):
            transition(S.CANCELLED, action, target)


def test_the_allowed_status_pairs_are_exactly_the_design_table() -> None:
    assert ALLOWED == DESIGN_PAIRS


def test_the_error_names_the_current_status_and_the_refused_target() -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition(S.CLOSED, A.ALLOCATE, S.ALLOCATED)
    assert str(refused.value) == "cannot allocate an order in status Closed to Allocated"
    assert refused.value.to_dict()["code"] == "illegal_transition"
