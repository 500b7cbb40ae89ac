"""What-if allocation (docs/allocation.md, What-if): the plan with
overrides and its difference from the plain plan. Nothing is written, no
lease is taken: the answer is 200, not 201."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends

from common.api.auth import Identity
from common.api.deps import Deps, Role, provide_deps, require
from common.api.routers.common import router
from common.service.handlers.whatif import WhatIf, WhatIfReport, run_what_if

api = router("allocation")


@api.post("/allocation/simulations", response_model=WhatIfReport,
          summary="What would the next run allocate with these overrides? (writes nothing)")
def simulate_allocation(
    deps: Annotated[Deps, Depends(provide_deps)],
    _: Annotated[Identity, Depends(require(Role.PLANNER))],
    body: Annotated[WhatIf, Body(description="overrides; {} plans the current data as it is")],
) -> WhatIfReport:
    return run_what_if(deps, body)
