"""Liveness and store reachability; no credentials needed."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Response

from common.api.deps import Deps, provide_deps
from common.api.routers.common import router
from common.api.schemas import Health

api = router("health")
log = logging.getLogger("oms.api")


@api.get("/health", response_model=Health, summary="Liveness and store reachability")
def health(deps: Annotated[Deps, Depends(provide_deps)], response: Response) -> Health:
    try:
        reachable = deps.store.ping()
    except Exception:  # health reports, it does not fail
        log.exception("store ping failed")
        reachable = False
    if not reachable:
        response.status_code = 503
    return Health(status="ok" if reachable else "unavailable", store=reachable, time=deps.clock.now())
