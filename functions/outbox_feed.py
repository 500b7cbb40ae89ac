"""Cosmos DB change feed of `orders` -> PublishOutbox (order events to Event Hub `order-events`).

The feed carries every document written to the container (orders, audit,
markers, ...); the adapter picks out the outbox events, in the feed's order,
and the handler publishes them as CloudEvents with their stable ids, then
marks them delivered. A publish failure raises, and the retry policy runs
the same documents again: consumers see at-least-once delivery, same ids.
What the feed gives up on is republished by `outbox_republish`.
"""

from __future__ import annotations

import azure.functions as func

from common.adapters.cosmos.documents import outbox_from_feed
from common.service.bootstrap import get_deps
from common.service.commands import PublishOutbox
from common.service.handlers.outbox import publish_outbox

bp = func.Blueprint()


@bp.function_name("outbox_feed")
@bp.retry(strategy="exponential_backoff", max_retry_count="8", minimum_interval="00:00:02",
          maximum_interval="00:05:00")
@bp.cosmos_db_trigger(arg_name="documents", connection="COSMOS_CONNECTION", database_name="%COSMOS_DATABASE%",
                      container_name="orders", lease_container_name="leases",
                      create_lease_container_if_not_exists=False, max_items_per_invocation=500)
def outbox_feed(documents: func.DocumentList) -> None:
    events, unreadable = outbox_from_feed(documents)
    publish_outbox(get_deps(), PublishOutbox(events, unreadable))
