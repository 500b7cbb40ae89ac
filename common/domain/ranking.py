"""The allocation ranking (DESIGN.md section 3, Allocation run): which
Approved order gets stock first.

The ranking is an ordered list of keys, configurable; each key sorts one way:
- `national_priority`: 1 first; an order without one sorts after every priority.
- `gated`: non-gated first (the `deprioritize` policy). Under the `exclude`
  policy gated orders are not candidates at all (see `excluded`).
- `plan_type`, `order_type`: by the configured rank (lower first); a type
  without a rank sorts after every ranked one, then by name.
- `need_by`: the stream's need-by date, earliest first, none last.
- `approved_at`: oldest approval first.
- `order_id`: the final, always-unique tie-break (appended when missing).

The priority class of an order is the part of its rank the optimal mode
weighs lexicographically: (national priority, gated).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from common.domain.models import Order

GatedPolicy = Literal["deprioritize", "exclude"]

RANK_KEYS = ("national_priority", "gated", "plan_type", "order_type", "need_by", "approved_at", "order_id")
DEFAULT_KEYS = RANK_KEYS

_LAST = 10**9  # sorts after any configured rank or priority
_FAR_DATE = date.max
_FAR_TIME = "9999"


@dataclass(frozen=True)
class RankingPolicy:
    keys: tuple[str, ...] = DEFAULT_KEYS
    gated_policy: GatedPolicy = "deprioritize"
    plan_type_ranks: Mapping[str, int] = field(default_factory=dict)
    order_type_ranks: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [k for k in self.keys if k not in RANK_KEYS]
        if unknown:
            raise ValueError(f"unknown ranking keys {unknown}; known: {', '.join(RANK_KEYS)}")
        if self.gated_policy not in ("deprioritize", "exclude"):
            raise ValueError(f"gated policy must be deprioritize or exclude, not {self.gated_policy!r}")
        if "order_id" not in self.keys:
            object.__setattr__(self, "keys", (*self.keys, "order_id"))


def _type_rank(ranks: Mapping[str, int], value: str | None) -> tuple[int, str]:
    if value is None:
        return (_LAST + 1, "")
    return (ranks.get(value, _LAST), value)


def _time(value: datetime | None) -> str:
    # ISO text in UTC sorts like the instant and never mixes naive and aware values.
    return value.isoformat() if value is not None else _FAR_TIME


def rank_key(order: Order, policy: RankingPolicy) -> tuple[Any, ...]:
    parts: list[Any] = []
    for key in policy.keys:
        if key == "national_priority":
            parts.append(order.national_priority if order.national_priority is not None else _LAST)
        elif key == "gated":
            parts.append(1 if order.gated else 0)
        elif key == "plan_type":
            parts.append(_type_rank(policy.plan_type_ranks, order.plan_type))
        elif key == "order_type":
            parts.append(_type_rank(policy.order_type_ranks, order.order_type))
        elif key == "need_by":
            parts.append(order.need_by or _FAR_DATE)
        elif key == "approved_at":
            parts.append(_time(order.approved_at))
        else:
            parts.append(order.order_id)
    return tuple(parts)


def _values(key: str, policy: RankingPolicy, orders: Sequence[Order]) -> list[Any]:
    """`rank_key`'s part for `key`, of every order (a column)."""
    if key == "national_priority":
        return [_LAST if o.national_priority is None else o.national_priority for o in orders]
    if key == "gated":
        return [1 if o.gated else 0 for o in orders]
    if key in ("plan_type", "order_type"):
        ranks = policy.plan_type_ranks if key == "plan_type" else policy.order_type_ranks
        known: dict[str | None, tuple[int, str]] = {}  # one tuple per type, not per order
        out = []
        for o in orders:
            value = o.plan_type if key == "plan_type" else o.order_type
            part = known.get(value)
            if part is None:
                part = known[value] = _type_rank(ranks, value)
            out.append(part)
        return out
    if key == "need_by":
        return [o.need_by or _FAR_DATE for o in orders]
    if key == "approved_at":
        return [_time(o.approved_at) for o in orders]
    return [o.order_id for o in orders]


def rank(orders: Iterable[Order], policy: RankingPolicy) -> list[Order]:
    """The orders best first: as sorted by `rank_key`, with each key's values
    made once per order, a key at a time."""
    listed = list(orders)
    keys = list(zip(*(_values(key, policy, listed) for key in policy.keys), strict=True))
    return [listed[i] for i in sorted(range(len(listed)), key=keys.__getitem__)]


def excluded(order: Order, policy: RankingPolicy) -> bool:
    """Gated orders take no stock under the `exclude` policy."""
    return policy.gated_policy == "exclude" and order.gated


def priority_class(order: Order, policy: RankingPolicy) -> tuple[int, int]:
    """The class the optimal mode weighs: national priority, then gated (when
    gated orders are deprioritized rather than excluded)."""
    priority = order.national_priority if order.national_priority is not None else _LAST
    gated = 1 if order.gated and policy.gated_policy == "deprioritize" and "gated" in policy.keys else 0
    return (priority, gated)


def class_indexes(classes: Sequence[tuple[int, int]]) -> list[int]:
    """Dense class numbers, 0 = best, for a list of priority classes."""
    order = {c: i for i, c in enumerate(sorted(set(classes)))}
    return [order[c] for c in classes]
