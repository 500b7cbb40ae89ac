"""Outages with real parts: the local Cosmos server behind a TCP proxy that
refuses or stalls connections for a while, Azurite for the dead letters, and
the Cosmos change feed read page by page the way the Functions host reads it.

- Cosmos down longer than every retry: the Event Hub batch is dead-lettered
  whole to Azurite (a different service); once Cosmos is back the replay
  applies every event exactly once, and the hub's redelivery changes nothing.
- The Event Hubs producer down while the change feed hands over outbox
  documents: the feed function fails, its lease moves on (as the host does
  once the retry policy is spent); the republisher later delivers every
  order event exactly once, in each project's commit order.
- Throttling (429) and timeouts answered by the server are retried.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import AzureError
from azure.cosmos import CosmosClient

from common.adapters.blob import BlobStorageSource
from common.adapters.clock import FixedClock
from common.adapters.cosmos import CosmosInventory, CosmosStore
from common.adapters.cosmos.client import Connection, get_client
from common.adapters.notify import MemoryNotifier
from common.config import Settings
from common.domain.models import CatalogItem, Project
from common.ports import OrderQuery
from common.service.bootstrap import Deps, build
from common.service.commands import ENGINEERING_SOURCE, WAREHOUSE_SOURCE
from common.service.deadletters import list_dead_letters, receive_batch, replay_dead_letters
from common.service.handlers.outbox import republish_outbox
from common.service.paging import all_audit
from functions.outbox_feed import outbox_feed
from tests.adapters.conftest import RecordingPublisher
from tests.conftest import SAMPLES
from tests.emulators import cosmos_faults
from tests.emulators.proxy import FaultProxy
from tests.emulators.settings import cosmos_endpoint, cosmos_key, cosmos_skip_reason
from tests.helpers.entry_points import process_deps
from tests.helpers.warehouse import design_event

pytestmark = pytest.mark.emulator

STREAMS = [("PRJ-0000101", "NYC-00417"), ("PRJ-0000102", "BOS-00112"), ("PRJ-0000104", "DAL-00555")]


def design(n: int, project: str, site: str, version: int = 1, qty: int = 3) -> dict[str, Any]:
    return design_event(f"evt-out-{n}", version, {"ANT-4T4R-B41": qty}, project, site, at="2026-11-20T08:00:00Z")


def bodies(events: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


@pytest.fixture
def cosmos() -> Iterator[tuple[str, str]]:
    """A scratch database on the Cosmos server: (endpoint, database)."""
    reason = cosmos_skip_reason()
    if reason:
        pytest.skip(reason)
    endpoint = cosmos_endpoint() or ""
    database = f"outage-{uuid.uuid4().hex[:10]}"
    direct = CosmosStore(lambda: get_client(Connection(endpoint=endpoint, key=cosmos_key())), database)
    direct.ensure_schema()
    CosmosInventory(lambda: get_client(Connection(endpoint=endpoint, key=cosmos_key())), database).ensure_schema()
    yield endpoint, database
    get_client(Connection(endpoint=endpoint, key=cosmos_key())).delete_database(database)


@pytest.fixture
def proxy(cosmos: tuple[str, str]) -> Iterator[FaultProxy]:
    made = FaultProxy.for_url(cosmos[0])
    yield made
    made.close()


def _client(endpoint: str) -> CosmosClient:
    # Short timeouts and few SDK retries: the adapter's own backoff
    # (common.adapters.cosmos.client.with_retry) still runs on top. No endpoint
    # discovery: the account would name the server's own address and the
    # client would go round the proxy.
    return CosmosClient(endpoint, credential=cosmos_key(), connection_verify=False, enable_endpoint_discovery=False,
                        retry_total=2,
                        retry_backoff_max=1, connection_timeout=2, read_timeout=2, retry_connect=1,
                        retry_read=1, retry_status=1)


@pytest.fixture
def deps(settings: Settings, cosmos: tuple[str, str], proxy: FaultProxy, azurite: BlobStorageSource,
         container_name: str, clock: FixedClock) -> Iterator[Deps]:
    """The app on Cosmos through the proxy, dead letters in Azurite."""
    endpoint, database = cosmos
    client = _client(proxy.url(endpoint))
    store = CosmosStore(client, database)
    inventory = CosmosInventory(client, database)
    store.attempts = inventory.attempts = 2  # the adapter's backoff, shortened for the test
    settings = settings.model_copy(update={"deadletter_container": container_name, "store": "cosmos"})
    made = build(settings, store=store, inventory=inventory, blobs=azurite, clock=clock, notifier=MemoryNotifier(),
                 publisher=RecordingPublisher())
    store.put_projects(Project.model_validate(json.loads(line))
                       for line in (SAMPLES / "project-master.jsonl").read_text().splitlines())
    store.put_catalog(CatalogItem.model_validate(json.loads(line))
                      for line in (SAMPLES / "item-catalog.jsonl").read_text().splitlines())
    yield made
    client.close()


def _history(deps: Deps) -> tuple[list[tuple[str, int]], list[tuple[str | None, str]], list[str]]:
    orders = sorted((o.order_id, o.revision) for o in deps.store.query_orders(OrderQuery()).items)
    audit = sorted((a.order_id, a.action) for a in all_audit(deps.store))
    outbox = sorted(e.id for e in deps.store.outbox_events())
    return orders, audit, outbox


def test_a_cosmos_outage_longer_than_the_retries_dead_letters_the_batch_and_the_replay_applies_it_once(
        deps: Deps, proxy: FaultProxy, azurite: BlobStorageSource, container_name: str) -> None:
    batch = bodies([design(n, project, site) for n, (project, site) in enumerate(STREAMS)])

    with proxy.down():
        with pytest.raises(AzureError):
            receive_batch(deps, ENGINEERING_SOURCE, batch)
        assert proxy.refused > 0, "the proxy should have refused the store's connections"

    (letter,) = list_dead_letters(deps)
    assert letter.count == 3 and azurite.exists(container_name, letter.name)
    assert deps.store.query_orders(OrderQuery()).items == []

    (replayed,) = replay_dead_letters(deps)
    assert replayed.status == "replayed" and replayed.counts["created"] == 3
    once = _history(deps)
    assert [o for o, _ in once[0]] == sorted(f"{p}~{s}~NewBuild~1" for p, s in STREAMS)
    assert {rev for _, rev in once[0]} == {1}
    assert len(once[2]) == 3

    receive_batch(deps, ENGINEERING_SOURCE, batch)  # the hub redelivers the batch too
    assert replay_dead_letters(deps) == []
    assert _history(deps) == once  # nothing applied twice


@pytest.mark.parametrize("status", [429, 408, 503])
def test_a_fault_that_ends_within_the_retries_loses_nothing_and_dead_letters_nothing(
        deps: Deps, proxy: FaultProxy, status: int) -> None:
    batch = bodies([design(10, "PRJ-0000101", "NYC-00417")])
    endpoint = cosmos_endpoint() or ""
    cosmos_faults.clear(endpoint)
    cosmos_faults.inject(endpoint, status=status, count=1, retry_after_ms=20, method="POST", path_contains="/docs")
    try:
        report = receive_batch(deps, ENGINEERING_SOURCE, batch)

        assert [r.outcome.value for r in report.results] == ["created"]
        assert cosmos_faults.injected(endpoint, status=status) == 1
        assert list_dead_letters(deps) == []
    finally:
        cosmos_faults.clear(endpoint)


def test_a_warehouse_batch_dead_lettered_in_an_outage_applies_its_stock_effect_once(
        deps: Deps, proxy: FaultProxy) -> None:
    deps.inventory.set_on_hand([("WH-EAST", "MNT-PIPE-2M", 10)], deps.clock.now())
    adjust = {"event_id": "wh-out-1", "event_type": "StockAdjusted", "occurred_at": "2026-11-20T08:00:00Z",
              "warehouse_id": "WH-EAST", "sku": "MNT-PIPE-2M", "delta": 5, "reason": "cycle_count"}
    with proxy.down(), pytest.raises(AzureError):
        receive_batch(deps, WAREHOUSE_SOURCE, bodies([adjust]))

    replay_dead_letters(deps)
    receive_batch(deps, WAREHOUSE_SOURCE, bodies([adjust]))

    (row,) = [r for r in deps.inventory.stock("WH-EAST") if r.sku == "MNT-PIPE-2M"]
    assert row.on_hand == 15


def test_a_stalled_cosmos_times_out_into_a_dead_letter_not_a_hang(deps: Deps, proxy: FaultProxy) -> None:
    with proxy.down("stall"), pytest.raises(AzureError):
        receive_batch(deps, ENGINEERING_SOURCE, bodies([design(20, "PRJ-0000101", "NYC-00417")]))

    (letter,) = list_dead_letters(deps)
    assert letter.count == 1
    (replayed,) = replay_dead_letters(deps)
    assert replayed.counts["created"] == 1


# ------------------------------------------------------------- publisher outage
class HostFeed:
    """The change-feed trigger as the Functions host drives it: pages of the
    `orders` container's change feed from a lease (continuation); a page whose
    invocation fails is retried by the retry policy, and once that is spent
    the lease moves on anyway."""

    def __init__(self, store: CosmosStore, page_size: int = 7) -> None:
        self.container = store.container("orders")
        self.page_size = page_size
        self.lease: str | None = None
        self.given_up = 0

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        options: dict[str, Any] = {"max_item_count": self.page_size}
        if self.lease is None:
            options["start_time"] = "Beginning"
        else:
            options["continuation"] = self.lease
        pager = self.container.query_items_change_feed(**options).by_page()
        for page in pager:
            docs = list(page)
            if not docs:
                break
            yield docs
            self.lease = pager.continuation_token

    def run(self, retries: int = 2) -> None:
        for docs in self.pages():
            for _attempt in range(retries + 1):
                try:
                    outbox_feed(func.DocumentList([func.Document.from_dict(d) for d in docs]))
                    break
                except ConnectionError:
                    continue
            else:
                self.given_up += 1  # the retry policy is spent: the lease moves on regardless


def test_a_publisher_outage_loses_no_order_event_and_the_republisher_keeps_each_projects_order(
        deps: Deps, cosmos: tuple[str, str], clock: FixedClock) -> None:
    endpoint, database = cosmos
    direct = CosmosStore(lambda: get_client(Connection(endpoint=endpoint, key=cosmos_key())), database)
    publisher = RecordingPublisher()
    deps.publisher = publisher
    with process_deps(deps):
        feed = HostFeed(direct)
        # Designs, then revisions: each project's events have an order to keep.
        receive_batch(deps, ENGINEERING_SOURCE, bodies([design(n, p, s) for n, (p, s) in enumerate(STREAMS)]))
        revised = [design(10 + n, p, s, 2, 5) for n, (p, s) in enumerate(STREAMS)]
        receive_batch(deps, ENGINEERING_SOURCE, bodies(revised))
        written = {p: [e.id for e in direct.outbox_events() if e.project_id == p] for p, _ in STREAMS}

        publisher.failing = True
        feed.run()
        assert feed.given_up > 0 and publisher.sent == []

        publisher.failing = False
        receive_batch(deps, ENGINEERING_SOURCE, bodies([design(20, "PRJ-0000101", "NYC-00417", 3, 7)]))
        feed.run()  # the feed goes on after the outage: only the new changes
        after_outage = [e["id"] for e in publisher.sent]
        assert after_outage == ["PRJ-0000101~NYC-00417~NewBuild~1@3"]

        clock.advance(timedelta(minutes=deps.settings.outbox_grace_minutes + 1))
        run = republish_outbox(deps)
        assert run is not None and run.counts["republished"] == 6

        sent = [e["id"] for e in publisher.sent]
        assert len(sent) == len(set(sent)) == 7  # every event once
        for project, ids in written.items():
            assert [i for i in sent if i.startswith(project) and i in ids] == ids  # commit order per project
        assert direct.stale_outbox(clock.now()) == []
        assert republish_outbox(deps) is None
