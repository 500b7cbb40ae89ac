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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

log = logging.getLogger("oms.retry")

T = TypeVar("T")

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
