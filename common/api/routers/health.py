"""Liveness and store reachability; no credentials needed."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Response
from fastapi.concurrency import run_in_threadpool

from common.api.deps import Deps, provide_deps
from common.api.routers.common import router
from common.api.schemas import Health

api = router("health")
log = logging.getLogger("oms.api")


def _reachable(deps: Deps) -> bool:
    try:
        return deps.store.ping()
    except Exception:  # health reports, it does not fail
        log.exception("store ping failed")
        return False


# async, with the ping in the thread pool: one hop per probe, not two (a sync
# route's answer is validated in the pool too).
@api.get("/health", response_model=Health, summary="Liveness and store reachability")
async def health(deps: Annotated[Deps, Depends(provide_deps)], response: Response) -> Health:
    reachable = await run_in_threadpool(_reachable, deps)
    if not reachable:
        response.status_code = 503
    return Health(status="ok" if reachable else "unavailable", store=reachable, time=deps.clock.now())
