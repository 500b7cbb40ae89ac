"""Quarantined inputs, tried again: a record goes back through the handler
that refused it (engineering events, warehouse events, dataset rows).
Applied: the record is marked reprocessed. Still refused: it stays open,
with the reasons of this attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.domain.delta import Outcome
from common.domain.errors import DomainError, InvalidInput, NotFound
from common.domain.models import QuarantineRecord, Reason
from common.ingest.schema import DATASETS
from common.service.bootstrap import Deps
from common.service.commands import (
    ENGINEERING_SOURCE,
    WAREHOUSE_SOURCE,
    ApplyWarehouseEvents,
    IngestEngineeringEvents,
    ReprocessQuarantined,
)
from common.service.handlers.datasets import NotReprocessable, reprocess_dataset_rows
from common.service.handlers.engineering import ingest_engineering_events
from common.service.handlers.warehouse import apply_warehouse_events


class NotOpen(DomainError):
    """The quarantine record was reprocessed or discarded already."""

    code = "not_open"


@dataclass
class QuarantineReprocessResult:
    record: QuarantineRecord
    results: list[dict[str, Any]]


def _dropped_from_hold(deps: Deps, record_: QuarantineRecord) -> bool:
    """The warehouse event was held on its order (so its idempotency marker
    exists) and then taken off it into quarantine: the last thing its order's
    audit says about it is `warehouse_event_quarantined`."""
    if record_.event_id is None or record_.order_id is None:
        return False
    about = [a for a in deps.store.order_audit(record_.order_id) if a.correlation_id == record_.event_id]
    return bool(about) and about[-1].action == "warehouse_event_quarantined"


def reprocess_quarantined(deps: Deps, cmd: ReprocessQuarantined) -> QuarantineReprocessResult:
    record_ = deps.store.get_quarantine(cmd.record_id)
    if record_ is None:
        raise NotFound(f"quarantine record {cmd.record_id} not found")
    if record_.status != "open":
        raise NotOpen(f"quarantine record {record_.id} is {record_.status}, not open")
    if record_.source in DATASETS:
        try:
            job = reprocess_dataset_rows(deps, record_.id)
        except NotReprocessable as error:
            raise InvalidInput(str(error), [Reason(loc=["payload"], msg=str(error), type="not_reprocessable")]) \
                from error
        current = deps.store.get_quarantine(record_.id) or record_
        return QuarantineReprocessResult(record=current, results=[{"job_id": job.job_id, "counts": job.counts}])
    if record_.source == ENGINEERING_SOURCE:
        report = ingest_engineering_events(deps, IngestEngineeringEvents(
            [record_.payload], channel="quarantine", actor=cmd.actor))
    elif record_.source == WAREHOUSE_SOURCE:
        replay = frozenset({record_.event_id}) if record_.event_id and _dropped_from_hold(deps, record_) \
            else frozenset[str]()
        report = apply_warehouse_events(deps, ApplyWarehouseEvents(
            [record_.payload], channel="quarantine", actor=cmd.actor, replay=replay))
    else:
        raise InvalidInput(f"records from {record_.source} cannot be reprocessed",
                           [Reason(loc=["source"], msg=f"no reprocessing for source {record_.source}",
                                   type="unsupported_source")])
    results = [r.to_json() for r in report.results]
    applied = bool(report.results) and all(r.outcome != Outcome.QUARANTINED for r in report.results)
    current = deps.store.get_quarantine(record_.id) or record_
    if applied:
        current = deps.store.put_quarantine(current.model_copy(update={"status": "reprocessed"}))
    return QuarantineReprocessResult(record=current, results=results)
