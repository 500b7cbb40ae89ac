"""The dashboard's replenishment panel in a real browser: the open requests
the API lists, with the orders each would unblock, and a clean console."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from common.adapters.clock import FixedClock
from common.domain.replenishment import ReorderPolicy
from common.service.bootstrap import Deps
from common.service.commands import RunAllocation
from common.service.handlers.allocation import run_allocation
from tests.browser.test_dashboard import DevTools, browser, settings, signed_in
from tests.conftest import SAMPLES
from tests.helpers.browser import serving
from tests.helpers.warehouse import WH, approve, design, stock_up
from tests.service.test_metrics import populate

__all__ = ["browser", "settings"]  # the fixtures, from the dashboard's own tests

pytestmark = pytest.mark.slow
ANT = "ANT-4T4R-B41"

READ_PANEL = """(() => [...document.querySelectorAll('#replenishment tbody tr')].map(
  (tr) => [tr.dataset.request || null, ...[...tr.children].map((td) => td.textContent)]))()"""


@pytest.fixture
def server(seeded: Deps, clock: FixedClock) -> Iterator[str]:
    populate(seeded, clock)
    skus = [json.loads(line)["sku"] for line in (SAMPLES / "item-catalog.jsonl").read_text().splitlines() if line]
    stock_up(seeded, {**dict.fromkeys(skus, 500), ANT: 2})
    seeded.store.put_reorder_policies([ReorderPolicy(warehouse_id=WH, sku=ANT, reorder_point=10, target_level=30,
                                                     lead_time_days=3)])
    approve(seeded, design(seeded, event_id="evt-short", project="PRJ-0000101", site="NYC-00417"))
    run_allocation(seeded, RunAllocation())  # short of antennas: the request opens
    with serving(seeded) as base:
        yield base


def test_the_dashboard_lists_the_open_requests_with_what_they_would_unblock(server: str, browser: DevTools) -> None:
    state = signed_in(browser, server, "key-viewer")
    rows = browser.evaluate(READ_PANEL)
    api = httpx.get(f"{server}/api/inventory/replenishment", headers={"X-API-Key": "key-viewer"}).json()

    assert state == "1"
    [item] = api["items"]
    assert item["would_unblock"] and item["short_orders"]
    assert rows == [[item["request_id"], item["request_id"], ANT, WH, str(item["quantity"]),
                     str(item["position"]["projected"]), rows[0][6], ", ".join(item["short_orders"]),
                     ", ".join(item["would_unblock"])]]
    assert browser.problems() == []
