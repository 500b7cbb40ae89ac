"""Event Hub `engineering-events` -> IngestEngineeringEvents (one batch, one job run)."""

from __future__ import annotations

import typing

import azure.functions as func

from common.service.bootstrap import get_deps
from common.service.commands import IngestEngineeringEvents, decode_json
from common.service.handlers.engineering import ingest_engineering_events

bp = func.Blueprint()


@bp.function_name("engineering_events")
@bp.retry(strategy="exponential_backoff", max_retry_count="5", minimum_interval="00:00:02",
          maximum_interval="00:01:00")
@bp.event_hub_message_trigger(arg_name="events", event_hub_name="engineering-events",
                              connection="EVENTHUB_CONNECTION", cardinality="many",
                              consumer_group="oms")
def engineering_events(events: typing.List[func.EventHubEvent]) -> None:  # noqa: UP006  (the worker refuses list[...])
    # Bad events are quarantined inside the handler; only a store that stays
    # down raises, after the batch was written to quarantine, so the retry
    # policy can try again without losing anything.
    ingest_engineering_events(
        get_deps(), IngestEngineeringEvents([decode_json(e.get_body()) for e in events], channel="eventhub"))
