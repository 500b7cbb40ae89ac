"""Splitting one partition's changes into transactional batches.

A Cosmos DB transactional batch holds at most 100 operations (and 2 MB). A
unit of work that touched many orders of one project can exceed that. The
changes are then split along what must stay together: an order with its
audit entries and outbox events, a stream with its orders and its audit
entries, and an inbound event's idempotency marker with everything that
event caused (its audit entries carry the event id as correlation id). Each
such group goes into one batch whole, so every event stays atomic: applied
with its marker, or not at all. Groups are packed into as few batches as
fit. If one group alone exceeds a batch (one stream hit by dozens of events
in a single delivery), it is split with its conditional writes (if-match
replaces) in the first batch, so a concurrent writer is detected before
anything is written; that is the one case where a crash between two batches
can leave part of a group written (documented in docs/azure.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from azure.cosmos import ContainerProxy, exceptions

from common.ports import ConflictKind

MAX_OPERATIONS = 100
MAX_BYTES = 1_800_000  # under the 2 MB request limit, with room for headers


@dataclass
class Op:
    """One batch operation, the labels that tie it to others, and the model
    whose ETag it sets when written."""

    operation: tuple[Any, ...]
    labels: list[str]
    model: Any = None
    conditional: bool = False
    size: int = field(default=0)
    flow: dict[str, int] | None = None  # what it changes of the partition's flow counters

    def __post_init__(self) -> None:
        if not self.size:
            self.size = len(json.dumps(self.operation[1], default=str))


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def groups(ops: Sequence[Op]) -> list[list[Op]]:
    """Ops that must be written together, in first-seen order."""
    uf = _UnionFind()
    for index, op in enumerate(ops):
        own = f"#{index}"
        for label in op.labels:
            uf.union(own, label)
    out: dict[str, list[Op]] = {}
    for index, op in enumerate(ops):
        out.setdefault(uf.find(f"#{index}"), []).append(op)
    return list(out.values())


# Room left in every batch for the partition's flow counter document
# (common/domain/flow.py), which each batch updates with what it writes.
SPARE_OPERATIONS = 1
SPARE_BYTES = 200_000


def _fits(batch: list[Op], extra: Sequence[Op]) -> bool:
    return (len(batch) + len(extra) <= MAX_OPERATIONS - SPARE_OPERATIONS
            and sum(o.size for o in batch) + sum(o.size for o in extra) <= MAX_BYTES - SPARE_BYTES)


def _split(group: list[Op]) -> list[list[Op]]:
    ordered = sorted(group, key=lambda o: not o.conditional)
    out: list[list[Op]] = [[]]
    for op in ordered:
        if out[-1] and not _fits(out[-1], [op]):
            out.append([])
        out[-1].append(op)
    return out


def plan(ops: Sequence[Op]) -> list[list[Op]]:
    """Batches to send, in order (each with room for the flow counters). One
    batch when everything fits."""
    if _fits([], ops):
        return [list(ops)] if ops else []
    batches: list[list[Op]] = []
    for group in groups(ops):
        if not _fits([], group):
            batches.extend(_split(group))
            continue
        for batch in batches:
            if _fits(batch, group):
                batch.extend(group)
                break
        else:
            batches.append(list(group))
    return batches


def execute_batch(retry: Callable[[Callable[[], Any]], Any], container: ContainerProxy,
                  operations: Sequence[tuple[Any, ...]], partition: str) -> list[dict[str, Any]] | ConflictKind:
    """One transactional batch, through the adapter's retry of throttling and
    timeouts: its results, or the conflict a refused batch stands for (a 409:
    a document exists; a 404 or 412: changed or deleted since it was read).
    Any other error goes on."""
    try:
        return list(retry(lambda: container.execute_item_batch(list(operations), partition_key=partition)))
    except exceptions.CosmosBatchOperationError as error:
        return conflict_kind(error.status_code, error)
    except exceptions.CosmosHttpResponseError as error:
        if error.status_code in (404, 409, 412):
            return conflict_kind(error.status_code, error)
        raise


def conflict_kind(status: int | None, error: Exception) -> ConflictKind:
    if status == 409:
        return ConflictKind.EXISTS
    if status in (404, 412):
        return ConflictKind.ETAG  # changed (or deleted) since it was read
    raise error
