"""The SQLite store's documents: `_dump` (the serializer called directly) is
`model_dump_json` without the defaults and the ETag, byte for byte; the
ETags made in bulk look like `new_etag`'s and do not repeat."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from pydantic import BaseModel

from common.adapters.sqlite.store import _dump, _new_etags, new_etag
from common.domain import orders as verbs
from common.domain.models import (
    SYSTEM,
    EngineeringHold,
    HeldEvent,
    JobRun,
    Order,
    OrderLine,
    OrderStatus,
    Stream,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def reference(model: BaseModel) -> str:
    return model.model_dump_json(exclude={"etag"} if "etag" in type(model).model_fields else None,
                                 exclude_defaults=True)


def an_order(**changes: object) -> Order:
    order = Order(order_id="P1~S~NewBuild~1", order_number="S-NB-001", project_id="P1", site_code="S",
                  order_type="NewBuild", seq=1, status=OrderStatus.APPROVED, warehouse_id="WH-1",
                  national_priority=2, lines=[OrderLine(line_no=1, sku="Ä-1", qty=3), OrderLine(line_no=2, sku="B",
                                                                                                 qty=1, uom="M")],
                  approved_at=T0, created_at=T0, updated_at=T0, etag="0123456789abcdef")
    return order.model_copy(update=changes)


def test_dump_is_model_dump_json_without_defaults_and_etag() -> None:
    order = an_order()
    busy = an_order(need_by=date(2026, 12, 1), short_seen={"B": 4}, sla_breached=["Approved@x"],
                    engineering_hold=EngineeringHold(at=T0, event_id="e1", failed_checks=["power"]),
                    held_events=[HeldEvent(event_id="w1", event_type="ReleaseCompleted", payload={"a": [1, "é"]},
                                           held_at=T0, reason="early", actor=SYSTEM)])
    allocated = verbs.allocate(order, warehouse_id="WH-1", run_id="run-1", actor=SYSTEM, at=T0)
    released = verbs.release(allocated.order, reserved={"Ä-1": 3, "B": 1}, run_id="run-1", actor=SYSTEM, at=T0)
    short = verbs.short(order, shortfall=[{"sku": "B", "needed": 1, "available": 0}], seen={"B": 0},
                        run_id="run-1", actor=SYSTEM, at=T0)
    stream = Stream(stream_id="P1~S~NewBuild", project_id="P1", site_code="S", order_type="NewBuild",
                    order_ids=[order.order_id], etag="x")
    job = JobRun(job_id="j1", job="allocation", started_at=T0, counts={"allocated": 1})
    models: list[BaseModel] = [order, busy, allocated.order, released.order, short.order, stream, job,
                               allocated.audit, released.audit, short.audit]
    models += [e.outbox for e in (allocated, released) if e.outbox is not None]
    for model in models:
        assert _dump(model) == reference(model)
        assert _dump(model) == reference(model)  # the cached exclusion, the second time
    assert '"etag"' not in _dump(order)


def test_etags_made_in_bulk_look_like_new_etag_and_do_not_repeat() -> None:
    made = list(_new_etags(1000))
    assert len(made) == 1000 and len(set(made)) == 1000
    shape = re.compile(r"[0-9a-f]{16}")
    assert all(shape.fullmatch(tag) for tag in made)
    assert shape.fullmatch(new_etag())
    assert list(_new_etags(0)) == []
