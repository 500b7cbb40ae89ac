"""Project master data as loaded, with whether each project qualifies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import Continuation, paged, router
from common.api.schemas import ProjectOut, ProjectPage
from common.domain.models import Project

api = router("projects")


def _out(deps: Deps, project: Project) -> ProjectOut:
    why_not = deps.policy.why_not(project)
    return ProjectOut.model_validate({**project.model_dump(), "qualifies": why_not is None, "why_not": why_not})


@api.get("/projects", response_model=ProjectPage, summary="Projects as loaded from the project master")
def list_projects(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    continuation: Continuation = None,
) -> ProjectPage:
    page = paged(lambda: deps.store.list_projects(limit, continuation))
    return ProjectPage(items=[_out(deps, p) for p in page.items], continuation=page.continuation)


@api.get("/projects/{project_id}", response_model=ProjectOut, summary="One project, with whether it qualifies")
def get_project(
    project_id: str,
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
) -> ProjectOut:
    project = deps.store.get_projects([project_id]).get(project_id)
    if project is None:
        raise ProblemError(404, f"project {project_id} not found", kind="not-found")
    return _out(deps, project)
