"""The largest figures the OMS takes, wherever they come from. A bound on
the way in is not enough where figures add up (manual items summed onto a
line, adjustments onto on-hand): the domain checks the result too, so no
path stores, approves or publishes a figure past these."""

from __future__ import annotations

from collections.abc import Sequence

from common.domain.errors import InvalidInput
from common.domain.models import OrderLine, Reason

MAX_QTY = 1_000_000  # units on one order line
# Design versions count revisions of one design; a value near 2**63 would
# make every later genuine version stale.
MAX_DESIGN_VERSION = 1_000_000
MAX_ON_HAND = 1_000_000_000  # units of one SKU in one warehouse


def line_reasons(lines: Sequence[OrderLine], loc: str = "lines") -> list[Reason]:
    return [Reason(loc=[loc, i, "qty"], msg=f"{line.sku}: qty {line.qty} is more than {MAX_QTY} on one line",
                   type="less_than_equal")
            for i, line in enumerate(lines) if line.qty > MAX_QTY]


def ensure_lines_in_bounds(lines: Sequence[OrderLine]) -> None:
    reasons = line_reasons(lines)
    if reasons:
        raise InvalidInput("a line's quantity is out of bounds", reasons)
