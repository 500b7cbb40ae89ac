"""Event Hub `warehouse-events` -> ApplyWarehouseEvents (one batch, one job run)."""

from __future__ import annotations

import typing

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.commands import WAREHOUSE_SOURCE
from common.service.deadletters import receive_batch

bp = func.Blueprint()


# data_type BINARY: see engineering_events.py (one poison body must not fail the batch).
@bp.function_name("warehouse_events")
@bp.retry(strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:00:02",
          maximum_interval="00:01:00")
@bp.event_hub_message_trigger(arg_name="events", event_hub_name="warehouse-events",
                              connection="EVENTHUB_CONNECTION", cardinality="many",
                              consumer_group="oms", data_type=func.DataType.BINARY)
def warehouse_events(events: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006  (the worker refuses list[...])
    # Bad or impossible events are quarantined inside the handler and early
    # ones are held on their order. A store that stays down raises after the
    # batch was quarantined, or dead-lettered to Blob Storage when it cannot
    # even take the quarantine (stock effects and markers make a replay idempotent).
    receive_batch(get_deps(), WAREHOUSE_SOURCE, [e.get_body() for e in events])
