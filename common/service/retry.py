"""Conflict retries: one helper, one behaviour.

A partition whose write lost to a concurrent writer (ETag) wrote nothing;
the items of that partition are decided again on a fresh read. Each caller
gives `retry_conflicts` its items and one attempt (decide them in a new unit
of work, commit, and return the items whose partition conflicted); the
helper runs at most `MAX_ATTEMPTS` attempts. When they are spent, the items
that still conflict are returned, and logged at WARNING: never dropped in
silence. What each caller then does with them is its own, stated rule (an
event is quarantined for reprocessing, an allocation plan is reported
skipped `changed_during_run`, an SLA flag waits for the next sweep, ...).

`retry_conflict` is the same loop for one document read, decided and
written under its own ETag (an incident, a replenishment request): its
attempt returns the result, or `CONFLICTED` when the write lost; when the
attempts are spent it returns `CONFLICTED`, logged at WARNING as above.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

log = logging.getLogger("oms.retry")

T = TypeVar("T")
R = TypeVar("R")

MAX_ATTEMPTS = 4


def retry_conflicts(items: Sequence[T], attempt: Callable[[Sequence[T]], Sequence[T]], *, what: str,
                    attempts: int = MAX_ATTEMPTS) -> list[T]:
    """Run `attempt(pending)` until nothing conflicts or `attempts` are spent;
    returns what still conflicts (empty when everything was written)."""
    pending: list[T] = list(items)
    for _ in range(attempts):
        if not pending:
            return []
        pending = list(attempt(pending))
    if pending:
        log.warning("%s: %d item(s) still lost to concurrent writers after %d attempts", what, len(pending),
                    attempts)
    return pending


class Conflicted(enum.Enum):
    """A one-document attempt whose conditional write lost (an enum, so that
    a result of None stays a result)."""

    CONFLICTED = "conflicted"


CONFLICTED = Conflicted.CONFLICTED


def retry_conflict(attempt: Callable[[], R | Conflicted], *, what: str,
                   attempts: int = MAX_ATTEMPTS) -> R | Conflicted:
    """Run `attempt()` (read the document afresh, decide, write it under its
    ETag) until it returns a result or `attempts` are spent; the result, or
    `CONFLICTED` (logged at WARNING) when the write kept losing. The loop is
    `retry_conflicts` over the one document, so both end the same way."""
    done: list[R] = []

    def once(pending: Sequence[str]) -> Sequence[str]:
        result = attempt()
        if result is CONFLICTED:
            return pending
        done.append(result)
        return []

    retry_conflicts([what], once, what=what, attempts=attempts)
    return done[0] if done else CONFLICTED
