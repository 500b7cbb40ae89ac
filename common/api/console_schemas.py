"""Response models of the reads the review console needs beside the
contract's routes: the work queue, counts per state, an order's context,
the caller's identity and the list of allocation runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from common.api.schemas import OrderOut, Page
from common.domain.models import FeasibilityCheck, JobRun, OutboxEvent, Project, Reservation
from common.service.handlers.allocation import report_of
from common.service.handlers.order_context import OrderContext
from common.service.handlers.work_queue import QueueItem


class QueueItemOut(OrderOut):
    age_hours: float = Field(description="hours since the order entered its status (its SLA clock)")
    sla_hours: float | None = Field(description="the SLA of its status (OMS_SLA_HOURS), if any")
    breaching: bool = Field(description="in its status longer than the SLA")

    @classmethod
    def of_item(cls, item: QueueItem) -> QueueItemOut:
        return cls.model_validate({**OrderOut.of(item.order).model_dump(), "age_hours": item.age_hours,
                                   "sla_hours": item.sla_hours, "breaching": item.breaching})


class QueuePage(Page):
    items: list[QueueItemOut]


class QueueCounts(BaseModel):
    counts: dict[str, int] = Field(description="orders per state under the other filters; every state listed")
    total: int


class Clearance(BaseModel):
    cleared: bool
    why_not: str | None
    feasible: bool
    checks: list[FeasibilityCheck]
    feasibility_at: datetime | None
    need_by: date | None
    design_version: int | None


class LastAllocationOut(BaseModel):
    run_id: str
    at: datetime
    action: str = Field(description="allocate | allocation_short | allocation_reject")
    reason: str | None
    explanation: dict[str, Any] | None = Field(
        description="the order's line of the run's report: outcome, rank, reason, shortfall per SKU, blocked_by")


class OrderContextOut(BaseModel):
    order: OrderOut
    project: Project | None
    qualifies: bool
    why_not_qualifying: str | None
    clearance: Clearance
    reservation: Reservation | None
    events: list[OutboxEvent]
    last_allocation: LastAllocationOut | None
    followers: list[OrderOut] = Field(description="orders whose parent is this one (follow-ups, deltas)")

    @classmethod
    def of(cls, context: OrderContext) -> OrderContextOut:
        stream = context.stream
        last = context.last_allocation
        return cls(
            order=OrderOut.of(context.order), project=context.project, qualifies=context.qualifies,
            why_not_qualifying=context.why_not_qualifying,
            clearance=Clearance(cleared=context.cleared, why_not=context.why_not_cleared,
                                feasible=stream.feasible if stream else True,
                                checks=list(stream.checks) if stream else [],
                                feasibility_at=stream.feasibility_at if stream else None,
                                need_by=stream.need_by if stream else None,
                                design_version=stream.design_version if stream else None),
            reservation=context.reservation, events=context.events,
            last_allocation=None if last is None else LastAllocationOut(
                run_id=last.run_id, at=last.at, action=last.action, reason=last.reason,
                explanation=last.explanation),
            followers=[OrderOut.of(o) for o in context.followers])


class Me(BaseModel):
    user: str | None = Field(description="null when the request carries no credentials")
    roles: list[str]
    via: str | None = Field(description="api-key | principal")
    acts_as: list[str] = Field(description="every role whose routes this caller may use (admin: all)")


class AllocationRunSummary(BaseModel):
    run_id: str
    source: str | None
    mode: str
    dry_run: bool
    status: str
    started_at: datetime
    ended_at: datetime | None
    counts: dict[str, int]

    @classmethod
    def of(cls, job: JobRun) -> AllocationRunSummary:
        report = report_of(job)  # the stored report, without the orders of a large run kept in a blob
        return cls(run_id=job.job_id, source=job.source, mode=report.mode, dry_run=report.dry_run,
                   status=job.status, started_at=job.started_at, ended_at=job.ended_at, counts=job.counts)


class AllocationRunList(Page):
    items: list[AllocationRunSummary]
