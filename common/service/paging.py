"""Reading a paged Store list to its end, for the callers that need all of it
(metrics, the simulation's checks, the CLI): they follow the continuation
instead of asking for one huge page and missing what lies past it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar

from common.domain.models import AuditEntry, QuarantineRecord
from common.ports import MAX_PAGE, Page, Store

T = TypeVar("T")


def every(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Each item of every page `fetch(continuation)` returns, in order."""
    continuation: str | None = None
    while True:
        page = fetch(continuation)
        yield from page.items
        continuation = page.continuation
        if continuation is None:
            return


def all_audit(store: Store, project_id: str | None = None, since: datetime | None = None,
              until: datetime | None = None) -> list[AuditEntry]:
    return list(every(lambda token: store.query_audit(project_id, since, until, MAX_PAGE, token)))


def all_quarantine(store: Store, status: str | None = None) -> list[QuarantineRecord]:
    return list(every(lambda token: store.list_quarantine(status, MAX_PAGE, token)))
