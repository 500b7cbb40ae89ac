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


class InsufficientStock(DomainError):
    """A reservation does not fit the available stock of its warehouse; nothing
    was reserved. `shortfall` lists `{"sku", "needed", "available"}` per short SKU."""

    code = "insufficient_stock"

    def __init__(self, order_id: str, shortfall: list[dict[str, Any]]) -> None:
        skus = ", ".join(f"{s['sku']} (needed {s['needed']}, available {s['available']})" for s in shortfall)
        super().__init__(f"order {order_id} does not fit the stock: {skus}",
                         [Reason(loc=["lines", s["sku"]], msg="insufficient stock", type="insufficient_stock")
                          for s in shortfall])
        self.order_id = order_id
        self.shortfall = shortfall


class RunInProgress(DomainError):
    """Work that must not overlap (an allocation run) is being done by
    another holder; `holder` names it (the running run's id)."""

    code = "run_in_progress"

    def __init__(self, what: str, holder: str) -> None:
        super().__init__(f"another {what} is in progress: {holder}")
        self.what = what
        self.holder = holder
