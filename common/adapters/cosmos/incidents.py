"""Incidents, their audit entries and stakeholder subscriptions on Cosmos DB
(the incident part of `common.ports.Store`; mixed into CosmosStore).

The `incidents` container (containers.json) keeps them in two logical
partitions: `pk` "incidents" (incidents, their audit entries, and one *live*
document per key that is not resolved) and "subscriptions". Incidents are
few (a handful a day at worst), far below one logical partition's 20 GB and
10,000 RU/s, and one partition is what lets a transactional batch keep the
rule "one open incident per key": opening creates the live document of its
key with the incident and its audit entry, so a second open of the key fails
whole on the existing live document (409); resolving replaces the incident
(if-match on its ETag) and deletes the live document in one batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from azure.cosmos import exceptions

from common.adapters.cosmos import documents as d
from common.adapters.tokens import cursor, cursor_token
from common.domain.incidents import Incident, IncidentAudit, IncidentStatus, Subscription
from common.ports import MAX_PAGE, Page

if TYPE_CHECKING:
    from common.adapters.cosmos.database import CosmosDatabase as _Base
else:
    _Base = object

CONTAINER = "incidents"
INCIDENTS, SUBSCRIPTIONS = "incidents", "subscriptions"  # the two partitions
INCIDENT, LIVE, AUDIT, SUBSCRIPTION = "incident", "live", "audit", "subscription"


def _incident_doc(incident: Incident) -> dict[str, Any]:
    return {"id": d.doc_id(INCIDENT, incident.incident_id), "pk": INCIDENTS, "type": INCIDENT,
            "incident_id": incident.incident_id, "key": incident.key, "status": incident.status.value,
            "x_sort": d.quarantine_sort_key(incident.opened_at, incident.incident_id),  # newest first
            "x_markets": incident.impact.market_names, "x_projects": incident.impact.project_ids,
            "body": incident.model_dump(mode="json", exclude={"etag"})}


def _live_doc(incident: Incident) -> dict[str, Any]:
    return {"id": d.doc_id(LIVE, incident.key), "pk": INCIDENTS, "type": LIVE, "key": incident.key,
            "incident_id": incident.incident_id}


def _audit_doc(audit: IncidentAudit, seq: int) -> dict[str, Any]:
    return {"id": d.doc_id(AUDIT, audit.audit_id), "pk": INCIDENTS, "type": AUDIT,
            "incident_id": audit.incident_id, "x_at": d.epoch(audit.at), "x_seq": seq,
            "body": audit.model_dump(mode="json")}


def _incident(doc: dict[str, Any]) -> Incident:
    incident = Incident.model_validate(doc["body"])
    incident.etag = doc.get("_etag")
    return incident


class CosmosIncidents(_Base):
    """Mixed into CosmosStore, whose client, retries and queries it uses."""

    def _batch(self, operations: list[Any]) -> list[dict[str, Any]]:
        container = self.container_client(CONTAINER)
        return list(self.retry(lambda: container.execute_item_batch(operations, partition_key=INCIDENTS)))

    def _read(self, item: str, partition: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.retry(lambda: self.container_client(CONTAINER).read_item(item, partition))
        except exceptions.CosmosResourceNotFoundError:
            return None
        return found

    def _find(self, sql: str, params: dict[str, Any], partition: str) -> list[dict[str, Any]]:
        parameters = [{"name": k, "value": v} for k, v in params.items()]
        proxy = self.container_client(CONTAINER)
        return list(self.retry(lambda: list(proxy.query_items(sql, parameters=parameters, partition_key=partition))))

    def _seq(self) -> int:
        next_seq = getattr(self, "_next_seq", None)  # CosmosStore's write order of equal times
        return int(next_seq()) if next_seq is not None else 0

    def open_incident(self, incident: Incident, audit: IncidentAudit) -> tuple[Incident, bool]:
        operations = [("create", (_live_doc(incident),)), ("create", (_incident_doc(incident),)),
                      ("create", (_audit_doc(audit, self._seq()),))]
        try:
            results = self._batch(operations)
        except exceptions.CosmosBatchOperationError as error:
            if error.status_code != 409:
                raise
            # The key has a live incident (or this very open was written by a
            # try whose answer was lost): hand that one back.
            live = self._read(d.doc_id(LIVE, incident.key), INCIDENTS)
            found = self.get_incident(live["incident_id"] if live else incident.incident_id)
            if found is None:
                raise
            return found, False
        incident.etag = results[1].get("eTag") or (results[1].get("resourceBody") or {}).get("_etag")
        return incident, True

    def update_incident(self, incident: Incident, expected: str, audit: IncidentAudit) -> bool:
        body = _incident_doc(incident)
        operations: list[Any] = [("replace", (body["id"], body), {"if_match_etag": expected}),
                                 ("create", (_audit_doc(audit, self._seq()),))]
        if incident.status == IncidentStatus.RESOLVED:
            operations.append(("delete", (d.doc_id(LIVE, incident.key),)))  # the key is free again
        try:
            results = self._batch(operations)
        except exceptions.CosmosBatchOperationError as error:
            if error.status_code in (404, 409, 412):
                return False  # changed (or resolved) since it was read
            raise
        incident.etag = results[0].get("eTag") or (results[0].get("resourceBody") or {}).get("_etag")
        return True

    def get_incident(self, incident_id: str) -> Incident | None:
        doc = self._read(d.doc_id(INCIDENT, incident_id), INCIDENTS)
        return _incident(doc) if doc is not None else None

    def list_incidents(self, status: str | None = None, market: str | None = None, project_id: str | None = None,
                       limit: int = 100, continuation: str | None = None) -> Page[Incident]:
        after = ""
        if continuation:
            key = cursor("incidents", continuation)
            if not isinstance(key, str) or not key:
                raise ValueError("not a continuation token")
            after = key
        where, params = ["c.type = @t", "c.x_sort > @after"], {"@t": INCIDENT, "@after": after}
        if status == "live":
            where.append("c.status != @s")
            params["@s"] = IncidentStatus.RESOLVED.value
        elif status is not None:
            where.append("c.status = @s")
            params["@s"] = status
        if market is not None:
            where.append("ARRAY_CONTAINS(c.x_markets, @m)")
            params["@m"] = market
        if project_id is not None:
            where.append("ARRAY_CONTAINS(c.x_projects, @p)")
            params["@p"] = project_id
        limit = max(1, min(int(limit), MAX_PAGE))
        docs = self._find(f"SELECT TOP {limit + 1} * FROM c WHERE {' AND '.join(where)} ORDER BY c.x_sort",
                          params, INCIDENTS)
        docs.sort(key=lambda doc: doc["x_sort"])
        page = docs[:limit]
        token = cursor_token("incidents", page[-1]["x_sort"]) if len(docs) > limit else None
        return Page(items=[_incident(doc) for doc in page], continuation=token)

    def incident_audit(self, incident_id: str) -> list[IncidentAudit]:
        docs = self._find("SELECT * FROM c WHERE c.type = @t AND c.incident_id = @i",
                          {"@t": AUDIT, "@i": incident_id}, INCIDENTS)
        docs.sort(key=lambda doc: (doc.get("x_at", 0), doc.get("x_seq", 0)))
        return [IncidentAudit.model_validate(doc["body"]) for doc in docs]

    def put_subscription(self, subscription: Subscription) -> None:
        body = {"id": d.doc_id(SUBSCRIPTION, subscription.subscription_id), "pk": SUBSCRIPTIONS,
                "type": SUBSCRIPTION, "body": subscription.model_dump(mode="json")}
        self.retry(lambda: self.container_client(CONTAINER).upsert_item(body))

    def delete_subscription(self, subscription_id: str) -> bool:
        item = d.doc_id(SUBSCRIPTION, subscription_id)
        try:
            self.retry(lambda: self.container_client(CONTAINER).delete_item(item, SUBSCRIPTIONS))
        except exceptions.CosmosResourceNotFoundError:
            return False
        return True

    def list_subscriptions(self) -> list[Subscription]:
        docs = self._find("SELECT * FROM c WHERE c.type = @t", {"@t": SUBSCRIPTION}, SUBSCRIPTIONS)
        return sorted((Subscription.model_validate(doc["body"]) for doc in docs), key=lambda s: s.subscription_id)


__all__ = ["CONTAINER", "CosmosIncidents"]
