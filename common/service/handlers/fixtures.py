"""Projects and catalogue from small JSON fixtures (JSON lines or a JSON
array), through the same store port as the Parquet ingestion. Meant for
samples and tests; production master data arrives as Parquet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.domain.inbound import reasons_from
from common.domain.models import CatalogItem, Project
from common.domain.replenishment import ReorderPolicy
from common.service.bootstrap import Deps
from common.service.commands import EvaluateReplenishment, FollowProjectMaster, ReevaluateParkedDesigns
from common.service.handlers.engineering import reevaluate_parked_designs
from common.service.handlers.projects import follow_project_master
from common.service.handlers.replenishment import replenish_after
from common.service.jobs import job_run
from common.service.quarantine import quarantine


def read_json_records(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        value = json.loads(text)
        return list(value)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def load_fixture(deps: Deps, dataset: str, path: Path) -> dict[str, int]:
    """Load `project-master`, `item-catalog` or `reorder-policy` rows from a JSON fixture."""
    models: dict[str, type[Project] | type[CatalogItem] | type[ReorderPolicy]] = {
        "project-master": Project, "reorder-policy": ReorderPolicy}
    model = models.get(dataset, CatalogItem)
    with job_run(deps, f"ingest-{dataset}", f"file:{path.name}") as recorder:
        rows = read_json_records(path)
        good: list[Any] = []
        for number, row in enumerate(rows):
            try:
                good.append(model.model_validate(row))
            except ValidationError as error:
                reasons = reasons_from(error)
                for reason in reasons:
                    reason.loc = ["row", number, *reason.loc]
                quarantine(deps, source=dataset, payload=row, reasons=reasons, job_id=recorder.run.job_id)
                recorder.count("quarantined")
        recorder.count("rows_read", len(rows))
        known = _known(deps, good)
        if model is Project:
            deps.store.put_projects(good)
            ids = [p.project_id for p in good]
            parked = reevaluate_parked_designs(deps, ReevaluateParkedDesigns(ids, recorder.run.job_id))
            recorder.count("parked_applied", len(parked.results))
            followed = follow_project_master(deps, FollowProjectMaster(ids, recorder.run.job_id))
            recorder.count("orders_following_master", len(followed.updated))
        elif model is ReorderPolicy:
            deps.store.put_reorder_policies(good)
            replenish_after(deps, EvaluateReplenishment("policy", correlation_id=recorder.run.job_id))
        else:
            deps.store.put_catalog(good)
        # As the Parquet path counts them: a row for a key not stored yet is
        # created, one for a stored key modified (a first load said
        # "created 0, modified 4").
        recorder.count("created", len(good) - known)
        recorder.count("modified", known)
    return dict(recorder.counts)


def _known(deps: Deps, rows: list[Any]) -> int:
    """How many of `rows` (one model type) are for a key the store holds."""
    if not rows:
        return 0
    if isinstance(rows[0], Project):
        stored: set[Any] = set(deps.store.get_projects(list({p.project_id for p in rows})))
        return sum(p.project_id in stored for p in rows)
    if isinstance(rows[0], ReorderPolicy):
        stored = {(p.warehouse_id, p.sku) for p in deps.store.reorder_policies()}
        return sum((p.warehouse_id, p.sku) in stored for p in rows)
    stored = set(deps.store.get_catalog(list({c.sku for c in rows})))
    return sum(c.sku in stored for c in rows)
