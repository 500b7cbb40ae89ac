"""Reorder policies and replenishment requests on Cosmos DB: the Store port's
replenishment methods, mixed into `CosmosStore`.

Both live in the `orders` container, in one partition per warehouse
(`partition_of(warehouse_id)`, which no project id can be): a request, its
audit entry and its outbox event are one transactional batch there, and the
change feed of `orders` publishes the event like any order event (the
republisher and `mark_delivered` find it by its id's partition). Documents
are typed `reorder_policy` and `replenishment`; reading all policies or all
open requests is one cross-partition query (the evaluation's, not on any
event's path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from common.adapters.cosmos import documents as d
from common.adapters.cosmos.batching import Op, execute_batch
from common.domain.replenishment import ReorderPolicy, ReplenishmentRequest, RequestChange, partition_of
from common.ports import ConflictKind, PartitionChanges

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")
T = TypeVar("T")

POLICY, REQUEST = "reorder_policy", "replenishment"


def _model(model: type[M], doc: dict[str, Any]) -> M:
    """The model of a document of a warehouse partition (the partition key is ours, not the model's)."""
    return d.from_doc(model, {k: v for k, v in doc.items() if k != "project_id"})


class CosmosReplenishment:
    """Mixed into CosmosStore (which provides the container clients, queries,
    retries and the audit and outbox documents)."""

    if TYPE_CHECKING:
        def container(self, name: str) -> ContainerProxy: ...
        def retry(self, operation: Callable[[], T]) -> T: ...
        def _query(self, container: str, sql: str, params: dict[str, Any] | None = None,
                   partition: str | None = None) -> list[dict[str, Any]]: ...
        def _upsert_all(self, container: str, bodies: Iterable[dict[str, Any]]) -> int: ...
        def _operations(self, part: PartitionChanges) -> list[Op]: ...
        @staticmethod
        def _write(body: dict[str, Any], expected: str | None, model: Any, labels: list[str]) -> Op: ...

    # ------------------------------------------------------------ policies
    def put_reorder_policies(self, policies: Iterable[ReorderPolicy]) -> int:
        return self._upsert_all("orders", (
            d.to_doc(p, POLICY, f"{p.warehouse_id}~{p.sku}", project_id=partition_of(p.warehouse_id))
            for p in policies))

    def reorder_policies(self, warehouse_id: str | None = None) -> list[ReorderPolicy]:
        where, params = ["c.type = @t", "c.removed = false"], {"@t": POLICY}
        partition = None
        if warehouse_id is not None:
            partition = partition_of(warehouse_id)
            where.append("c.project_id = @p")
            params["@p"] = partition
        docs = self._query("orders", f"SELECT * FROM c WHERE {' AND '.join(where)}", params, partition)
        return sorted((_model(ReorderPolicy, doc) for doc in docs), key=lambda p: p.key)

    # ------------------------------------------------------------ requests
    def replenishment_requests(self, warehouse_id: str | None = None, sku: str | None = None,
                               status: str | None = None) -> list[ReplenishmentRequest]:
        where, params = ["c.type = @t"], {"@t": REQUEST}
        partition = None
        if warehouse_id is not None:
            partition = partition_of(warehouse_id)
            where.append("c.project_id = @p")
            params["@p"] = partition
        for name, value in (("sku", sku), ("status", status)):
            if value is not None:
                where.append(f"c.{name} = @{name}")
                params[f"@{name}"] = value
        docs = self._query("orders", f"SELECT * FROM c WHERE {' AND '.join(where)}", params, partition)
        return sorted((_model(ReplenishmentRequest, doc) for doc in docs),
                      key=lambda r: (r.warehouse_id, r.sku, r.seq))

    def commit_replenishment(self, change: RequestChange) -> ConflictKind | None:
        """One transactional batch: the request (create, or replace with
        if-match), its audit entry and its outbox event."""
        request = change.request
        partition = request.partition
        body = d.to_doc(request, REQUEST, request.request_id, project_id=partition)
        ops = [self._write(body, change.expected, request, [f"request:{request.request_id}"]),
               *self._operations(PartitionChanges(partition=partition, audit=[change.audit], outbox=[change.outbox]))]
        results = execute_batch(self.retry, self.container("orders"), [op.operation for op in ops], partition)
        if isinstance(results, ConflictKind):
            return results
        outcome = results[0]
        request.etag = outcome.get("eTag") or (outcome.get("resourceBody") or {}).get("_etag")
        return None
