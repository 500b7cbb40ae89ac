"""Dead letters: Event Hub batches the store could take neither as changes
nor as quarantine, kept in Blob Storage; and replaying them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Query
from fastapi.concurrency import run_in_threadpool

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.problems import ProblemError
from common.api.routers.common import router
from common.api.schemas import DeadLetterOut, DeadLetterPage, DeadLetterReplayIn, DeadLetterReplayOut
from common.service import deadletters

api = router("dead-letters")


@api.get("/dead-letters", response_model=DeadLetterPage, summary="Dead-lettered batches, oldest first")
def list_dead_letters(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.VIEWER))],
    replayed: Annotated[bool, Query(description="list those replayed already")] = False,
) -> DeadLetterPage:
    letters = deadletters.list_dead_letters(deps, replayed=replayed)
    return DeadLetterPage(items=[DeadLetterOut.model_validate(d.to_json()) for d in letters])


@api.post("/dead-letters/replay", response_model=DeadLetterReplayOut,
          summary="Replay dead letters through their handlers (each event applies once)")
async def replay_dead_letters(
    deps: Annotated[Deps, Depends(provide_deps)],
    identity: Annotated[Identity, Depends(require(Role.OPERATOR))],
    body: Annotated[DeadLetterReplayIn | None, Body()] = None,
) -> DeadLetterReplayOut:
    body = body or DeadLetterReplayIn()
    try:
        results = await run_in_threadpool(deadletters.replay_dead_letters, deps, body.names,
                                          actor=identity.actor, force=body.force)
    except deadletters.DeadLetterError as error:
        raise ProblemError(404, str(error), kind="not-found") from error
    return DeadLetterReplayOut.model_validate({"results": [r.to_json() for r in results]})
