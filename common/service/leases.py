"""One holder at a time for work that must not overlap (an allocation run):
a lease in the store (SQLite: a row taken under the write lock; Cosmos DB: a
document replaced with its ETag) with an expiry, renewed while the work goes
on, so a holder that died frees it within one lease period.

Why a lease and not only the per-order ETags: two overlapping allocation
runs never reserve a unit twice, but each ranks the orders it read, so the
second can mark short an order that fits while a lower-ranked one gets the
stock, or release orders the first had not allocated yet."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from common.domain.errors import RunInProgress
from common.service.bootstrap import Deps


class LeaseLost(RuntimeError):
    """The lease ran out while its holder was still working, and another holder took it."""


@dataclass
class Lease:
    deps: Deps
    name: str
    holder: str
    seconds: float

    def take(self) -> str | None:
        now = self.deps.clock.now()
        return self.deps.store.acquire_lease(self.name, self.holder, now + timedelta(seconds=self.seconds), now)

    def renew(self) -> None:
        """Keep it for another period; raises LeaseLost when another holder has it."""
        other = self.take()
        if other is not None:
            raise LeaseLost(f"the {self.name} lease of {self.holder} ran out and {other} has it now")


@contextmanager
def leased(deps: Deps, name: str, holder: str, *, seconds: float, wait: float = 0, what: str | None = None,
           poll: float = 1.0) -> Iterator[Lease]:
    """Hold lease `name` for the block. Held by another: wait up to `wait`
    seconds for it, then raise RunInProgress naming the holder."""
    lease = Lease(deps, name, holder, seconds)
    deadline = time.monotonic() + wait
    while (other := lease.take()) is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RunInProgress(what or name, other)
        time.sleep(min(poll, left))
    try:
        yield lease
    finally:
        deps.store.release_lease(name, holder)
