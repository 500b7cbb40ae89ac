"""Clocks: the real one, and a settable one for tests and simulations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that moves only when told to (tests, `oms simulate`)."""

    at: datetime = field(default_factory=lambda: datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    step: timedelta = timedelta(0)

    def now(self) -> datetime:
        current = self.at
        self.at = self.at + self.step
        return current

    def advance(self, delta: timedelta) -> None:
        self.at = self.at + delta
