"""Event Hub `engineering-events` -> IngestEngineeringEvents (one batch, one job run)."""

from __future__ import annotations

import typing

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.commands import ENGINEERING_SOURCE
from common.service.deadletters import receive_batch

bp = func.Blueprint()


# data_type BINARY: the host then sends each body's bytes. Without it, a batch
# of JSON bodies arrives as one JSON array that the azure-functions library
# parses with json.loads before our code runs, so one poison body (nested
# 1,000 deep, a 5,000-digit number) would fail the whole batch on every retry.
@bp.function_name("engineering_events")
@bp.retry(strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:00:02",
          maximum_interval="00:01:00")
@bp.event_hub_message_trigger(arg_name="events", event_hub_name="engineering-events",
                              connection="EVENTHUB_CONNECTION", cardinality="many",
                              consumer_group="oms", data_type=func.DataType.BINARY)
def engineering_events(events: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006  (the worker refuses list[...])
    # Bad events are quarantined inside the handler. A store that stays down
    # raises after the batch was quarantined, or, when it cannot even take the
    # quarantine, dead-lettered to Blob Storage: the retry policy may run out.
    receive_batch(get_deps(), ENGINEERING_SOURCE, [e.get_body() for e in events])
