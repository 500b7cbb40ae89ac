"""What one dump may cost, and how many of its bad rows are worded.

A hostile (or broken) file must not take the process down: a few kilobytes
of Parquet can hold millions of rows that are all bad, and a reason object
per bad row is what ran a process out of memory. So reasons are *sampled*:
the first `listed_reasons` are worded in full, every one is counted (per
column and problem type); the first `kept_bad_rows` bad rows are kept for
reprocessing, the rest counted. And a file whose rows would not fit the
memory budget once decoded (`max_memory_mb`, estimated from its first
decoded batch), whose pages are larger than `max_uncompressed_mb`, or that
holds more than `max_rows` rows is refused whole before it is read. (A
dictionary-encoded bomb is small even uncompressed: the memory estimate is
the cap that catches it.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from common.domain.models import Reason


@dataclass(frozen=True)
class Limits:
    max_rows: int = 5_000_000
    max_memory_mb: float = 1536
    max_uncompressed_mb: float = 2048  # the pages as the footer announces them, before dictionaries expand
    listed_reasons: int = 10_000
    kept_bad_rows: int = 10_000
    # A decoded batch is held about this many times over while the file is
    # checked and diffed (the row keys, the masks, the joined previous snapshot).
    working_copies: float = 4.0


@dataclass
class ReasonSink:
    """The first `limit` reasons, and a count of all of them."""

    limit: int
    listed: list[Reason] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (column, type) -> rows

    def room(self) -> int:
        return max(self.limit - len(self.listed), 0)

    def add(self, column: str, kind: str, total: int, make: Callable[[int], Iterable[Reason]]) -> None:
        """`total` reasons of one kind; `make(n)` words the first n of them."""
        self.counts[(column, kind)] += total
        room = self.room()
        if room and total:
            self.listed.extend(make(min(room, total)))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> list[dict[str, object]]:
        return [{"column": column, "type": kind, "rows": n} for (column, kind), n in sorted(self.counts.items())]
