"""The order state machine (DESIGN.md section 3, States).

Every status change goes through `transition`, which refuses anything the
table does not allow with an `IllegalTransition` naming the current status.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from common.domain.errors import IllegalTransition
from common.domain.models import OrderStatus

S = OrderStatus


class Action(StrEnum):
    APPROVE = "approve"
    CANCEL = "cancel"
    EDIT = "edit"  # a user changes lines or fields
    REVISE = "revise"  # a newer design recreates the order
    REJECT = "reject"  # an approver sends the order back
    ALLOCATION_REJECT = "allocation_reject"  # the allocation run sends it back
    ALLOCATE = "allocate"
    RELEASE = "release"
    COMPLETE = "complete"  # warehouse ReleaseCompleted
    WAREHOUSE_REJECT = "warehouse_reject"  # warehouse ReleaseRejected
    RETURN = "return"  # warehouse ReturnReceived


@dataclass(frozen=True)
class Rule:
    sources: frozenset[OrderStatus]
    targets: frozenset[OrderStatus]


def _rule(sources: set[OrderStatus], *targets: OrderStatus) -> Rule:
    return Rule(frozenset(sources), frozenset(targets))


RETURNED = {S.PARTIALLY_RETURNED, S.FULLY_RETURNED}

RULES: dict[Action, Rule] = {
    Action.APPROVE: _rule({S.DRAFT}, S.APPROVED),
    Action.CANCEL: _rule({S.DRAFT}, S.CANCELLED),
    # Draft -> Draft is a content change, not a status change; returned orders
    # are reviewed by editing them back into Draft.
    Action.EDIT: _rule({S.DRAFT, S.APPROVED, *RETURNED}, S.DRAFT),
    Action.REVISE: _rule({S.DRAFT, S.APPROVED, S.ALLOCATED}, S.DRAFT),
    Action.REJECT: _rule({S.APPROVED, *RETURNED}, S.DRAFT),
    Action.ALLOCATION_REJECT: _rule({S.APPROVED}, S.DRAFT),
    Action.ALLOCATE: _rule({S.APPROVED}, S.ALLOCATED),
    Action.RELEASE: _rule({S.ALLOCATED}, S.RELEASED),
    Action.COMPLETE: _rule({S.RELEASED}, S.CLOSED),
    Action.WAREHOUSE_REJECT: _rule({S.RELEASED, S.ALLOCATED}, S.DRAFT),
    # Several partial returns can add up to a full one.
    Action.RETURN: _rule({S.CLOSED, S.PARTIALLY_RETURNED}, S.PARTIALLY_RETURNED, S.FULLY_RETURNED),
}

# The (from, to) pairs of DESIGN.md's table, derived from the rules so the two
# cannot disagree. Draft -> Draft edits are content changes, not listed.
ALLOWED: frozenset[tuple[OrderStatus, OrderStatus]] = frozenset(
    (source, target)
    for rule in RULES.values()
    for source in rule.sources
    for target in rule.targets
    if source != target or source == S.PARTIALLY_RETURNED
)

TERMINAL = frozenset({S.CANCELLED})
OPEN = frozenset({S.DRAFT, S.APPROVED, S.ALLOCATED})


def transition(current: OrderStatus, action: Action, target: OrderStatus | None = None) -> OrderStatus:
    """The status after `action`, or `IllegalTransition` naming the current status."""
    rule = RULES[action]
    if target is None:
        if len(rule.targets) != 1:
            raise ValueError(f"{action} needs an explicit target status")
        (target,) = rule.targets
    if current not in rule.sources or target not in rule.targets:
        raise IllegalTransition(current=current, action=action.value, target=target)
    return target


def allows(current: OrderStatus, action: Action) -> bool:
    return current in RULES[action].sources


def ensure_allowed(current: OrderStatus, action: Action) -> None:
    """`IllegalTransition` naming the current status unless `action` may start
    from it (a request that would change nothing must still be legal)."""
    if not allows(current, action):
        raise IllegalTransition(current=current, action=action.value)
