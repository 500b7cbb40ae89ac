"""Checks that need reference data: does a project qualify for orders, do an
event's project and SKUs exist, may an order be approved."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from common.domain.inbound import EngineeringEvent
from common.domain.models import CatalogItem, Project, Reason


@dataclass(frozen=True)
class QualifyingPolicy:
    """A project qualifies when its milestone is one of `milestones` and its
    status is none of `blocking_statuses` (CONTRACT.md, OMS_QUALIFYING_MILESTONES)."""

    milestones: frozenset[str] = frozenset({"ConceptApproved", "MilestoneApproved"})
    blocking_statuses: frozenset[str] = frozenset({"Cancelled", "OnHold"})

    def why_not(self, project: Project) -> str | None:
        if project.removed:
            return f"project {project.project_id} was removed from the project master"
        if project.project_status in self.blocking_statuses:
            return f"project status {project.project_status} blocks orders"
        if project.milestone not in self.milestones:
            allowed = ", ".join(sorted(self.milestones))
            return f"milestone {project.milestone} is not a qualifying milestone ({allowed})"
        return None

    def qualifies(self, project: Project) -> bool:
        return self.why_not(project) is None


def sku_reasons(
    skus: list[tuple[list[str | int], str]], catalog: Mapping[str, CatalogItem]
) -> list[Reason]:
    reasons = []
    for loc, sku in skus:
        item = catalog.get(sku)
        if item is None:
            reasons.append(Reason(loc=loc, msg=f"SKU {sku} is not in the item catalogue", type="unknown_sku"))
        elif not item.active:
            reasons.append(Reason(loc=loc, msg=f"SKU {sku} is inactive in the item catalogue",
                                  type="inactive_sku"))
    return reasons


def reference_reasons(
    event: EngineeringEvent,
    projects: Mapping[str, Project],
    catalog: Mapping[str, CatalogItem],
    order_types: Collection[str],
) -> list[Reason]:
    """Referential integrity of one schema-valid engineering event."""
    reasons: list[Reason] = []
    project = projects.get(event.project_id)
    if project is None:
        reasons.append(Reason(loc=["project_id"], msg=f"project {event.project_id} is not in the project master",
                              type="unknown_project"))
    elif project.site_code and event.site_code != project.site_code:
        reasons.append(Reason(loc=["site_code"], type="unknown_site",
                              msg=f"site {event.site_code} is not project {event.project_id}'s site in the project "
                                  f"master ({project.site_code})"))
    if order_types and event.order_type not in order_types:
        reasons.append(Reason(loc=["order_type"],
                              msg=f"order type {event.order_type} is not one of {', '.join(order_types)}",
                              type="unknown_order_type"))
    if event.items:
        reasons.extend(sku_reasons([(["items", i, "sku"], item.sku) for i, item in enumerate(event.items)],
                                   catalog))
    return reasons


def raw_reference_reasons(
    raw: Mapping[str, Any],
    known: list[Reason],
    projects: Mapping[str, Project],
    catalog: Mapping[str, CatalogItem],
) -> list[Reason]:
    """Referential integrity of a schema-invalid event, for the fields that are
    well-formed, so its quarantine record lists every reason at once."""
    taken = {tuple(r.loc) for r in known}
    reasons: list[Reason] = []
    project_id = raw.get("project_id")
    if isinstance(project_id, str) and ("project_id",) not in taken and project_id not in projects:
        reasons.append(Reason(loc=["project_id"], msg=f"project {project_id} is not in the project master",
                              type="unknown_project"))
    site = raw.get("site_code")
    project = projects.get(project_id) if isinstance(project_id, str) else None
    if project is not None and project.site_code and isinstance(site, str) and ("site_code",) not in taken \
            and site != project.site_code:
        reasons.append(Reason(loc=["site_code"], type="unknown_site",
                              msg=f"site {site} is not project {project_id}'s site in the project master "
                                  f"({project.site_code})"))
    items = raw.get("items")
    if isinstance(items, list):
        skus: list[tuple[list[str | int], str]] = [
            (["items", i, "sku"], item["sku"]) for i, item in enumerate(items)
            if isinstance(item, dict) and isinstance(item.get("sku"), str) and ("items", i, "sku") not in taken]
        reasons.extend(sku_reasons(skus, catalog))
    return reasons
