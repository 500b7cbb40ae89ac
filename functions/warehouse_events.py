"""Event Hub `warehouse-events` -> ApplyWarehouseEvents (one batch, one job run)."""

from __future__ import annotations

import typing

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.commands import ApplyWarehouseEvents, decode_json
from common.service.handlers.warehouse import apply_warehouse_events

bp = func.Blueprint()


@bp.function_name("warehouse_events")
@bp.retry(strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:00:02",
          maximum_interval="00:01:00")
@bp.event_hub_message_trigger(arg_name="events", event_hub_name="warehouse-events",
                              connection="EVENTHUB_CONNECTION", cardinality="many",
                              consumer_group="oms")
def warehouse_events(events: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006  (the worker refuses list[...])
    # Bad or impossible events are quarantined inside the handler and early
    # ones are held on their order; only a store that stays down raises, after
    # the batch was written to quarantine, so the retry policy can try again
    # (stock effects and markers make the retry idempotent).
    apply_warehouse_events(
        get_deps(), ApplyWarehouseEvents([decode_json(e.get_body()) for e in events], channel="eventhub"))
