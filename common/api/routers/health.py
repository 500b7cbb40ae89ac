"""Liveness and store reachability; no credentials needed."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Response

from common.api.deps import Deps, provide_deps
from common.api.routers.common import router, store_read
from common.api.schemas import Health

api = router("health")
log = logging.getLogger("oms.api")


def _reachable(deps: Deps) -> bool:
    try:
        return deps.store.ping()
    except Exception:  # health reports, it does not fail
        log.exception("store ping failed")
        return False


# async, the ping through `store_read` as the order reads: on the embedded
# store a ping on the event loop (a thread-pool hop cost more than the
# ping), Cosmos DB's in the thread pool.
@api.get("/health", response_model=Health, summary="Liveness and store reachability")
async def health(deps: Annotated[Deps, Depends(provide_deps)], response: Response) -> Health:
    reachable = await store_read(deps, lambda: _reachable(deps))
    if not reachable:
        response.status_code = 503
    return Health(status="ok" if reachable else "unavailable", store=reachable, time=deps.clock.now())
