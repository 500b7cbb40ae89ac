"""The audit trail across orders: by project and time range."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import Continuation, IsoDateTime, paged, router
from common.api.schemas import AuditPage

api = router("audit")


@api.get("/audit", response_model=AuditPage, summary="Audit entries by project and time range, oldest first")
def query_audit(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    project_id: Annotated[str | None, Query(max_length=128)] = None,
    since: IsoDateTime | None = None,
    until: Annotated[IsoDateTime | None, Query(description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    continuation: Continuation = None,
) -> AuditPage:
    if since is not None and until is not None and _aware(since) > _aware(until):
        raise ProblemError(422, "since is after until", kind="validation-error",
                           errors=[{"loc": ["query", "since"], "msg": "must not be after until"}])
    page = paged(lambda: deps.store.query_audit(project_id, since, until, limit, continuation))
    return AuditPage(items=page.items, continuation=page.continuation)


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
