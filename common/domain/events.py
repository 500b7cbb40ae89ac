"""Outbound order events (CONTRACT.md: order events) and the CloudEvents 1.0
envelope they are published in."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from common.domain.ids import history_id
from common.domain.models import Order, OutboxEvent

CLOUDEVENT_SOURCE = "/oms/orders"


class OrderEventType(StrEnum):
    CREATED = "oms.order.created"
    REVISED = "oms.order.revised"
    APPROVED = "oms.order.approved"
    REJECTED = "oms.order.rejected"
    CANCELLED = "oms.order.cancelled"
    ALLOCATED = "oms.order.allocated"
    RELEASE_REQUESTED = "oms.order.release_requested"
    CLOSED = "oms.order.closed"
    RETURNED = "oms.order.returned"
    SLA_BREACHED = "oms.order.sla_breached"


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "order_number": order.order_number,
        "project_id": order.project_id,
        "site_code": order.site_code,
        "order_type": order.order_type,
        "kind": order.kind.value,
        "parent_order_id": order.parent_order_id,
        "status": order.status.value,
        "revision": order.revision,
        "design_version": order.design_version,
        "warehouse_id": order.warehouse_id,
        "rejection_reason": order.rejection_reason,
        "lines": [line.as_json() for line in order.lines],
    }


def order_event(order: Order, kind: OrderEventType, at: datetime, **extra: Any) -> OutboxEvent:
    data = order_summary(order)
    data.update(extra)
    return OutboxEvent(
        id=history_id(order.order_id, order.version),
        type=kind.value,
        subject=order.order_id,
        project_id=order.project_id,
        time=at,
        data=data,
    )


def to_cloudevent(event: OutboxEvent) -> dict[str, Any]:
    """CloudEvents 1.0 structured JSON; `id` is stable across redelivery."""
    return {
        "specversion": "1.0",
        "id": event.id,
        "source": CLOUDEVENT_SOURCE,
        "type": event.type,
        "subject": event.subject,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "partitionkey": event.project_id,
        "data": event.data,
    }
