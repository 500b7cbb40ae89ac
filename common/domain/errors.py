"""Domain errors: values the edges translate (problem+json at HTTP,
quarantine records at Event Hub and Blob)."""

from __future__ import annotations

from typing import Any

from common.domain.models import OrderStatus, Reason


class DomainError(Exception):
    """Base of every refusal the domain or service layer can make."""

    code = "domain_error"

    def __init__(self, message: str, reasons: list[Reason] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reasons = reasons or []

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.message,
                "errors": [r.model_dump(exclude_none=True) for r in self.reasons]}


class IllegalTransition(DomainError):
    code = "illegal_transition"

    def __init__(self, current: OrderStatus, action: str, target: OrderStatus | None = None) -> None:
        where = f" to {target.value}" if target else ""
        super().__init__(f"cannot {action} an order in status {current.value}{where}")
        self.current = current
        self.action = action
        self.target = target


class NotFound(DomainError):
    code = "not_found"


class InvalidInput(DomainError):
    code = "invalid_input"


class ValidationFailed(DomainError):
    """The order does not pass the checks an action demands (e.g. approval)."""

    code = "validation_failed"


class Forbidden(DomainError):
    code = "forbidden"


class ConcurrencyConflict(DomainError):
    """The document changed since it was read (ETag mismatch)."""

    code = "precondition_failed"


class DuplicateEvent(DomainError):
    """The idempotency marker of the event exists already: it was processed."""

    code = "duplicate_event"
