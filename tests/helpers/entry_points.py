"""The entry points (functions/, the CLI, the Function app's HTTP trigger)
take their deps from the process (`get_deps()`); a test hands them its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from common.service.bootstrap import Deps, set_deps


@contextmanager
def process_deps(deps: Deps) -> Iterator[Deps]:
    """`deps` as the process's for the block, none after (the next test sets its own)."""
    set_deps(deps)
    try:
        yield deps
    finally:
        set_deps(None)
