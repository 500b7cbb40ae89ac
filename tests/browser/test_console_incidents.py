"""The console's incident pages in a real browser (headless Chromium, as
tests/browser/test_console.py): a viewer reads the list and the impact and is
offered no action; an operator acknowledges and resolves, the market's
stakeholder hears each step; a stale page's action is refused with what
changed. Screenshots under .artifacts/console/, axe-core clean, at 1280 px
and on a tablet."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from common.adapters.notify import MemoryNotifier
from common.adapters.stakeholders import MemoryMessenger
from common.service.bootstrap import Deps
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.stakeholders import MESSENGER
from tests.conftest import load_samples
from tests.helpers.browser import (
    Served,
    browser_skip_reason,
    by_id,
    check_page,
    open_page,
    redrawn,
    serving,
    sign_in_as,
    stale,
    text_of,
    wait_for,
)
from tests.helpers.outages import fail_engineering_batch
from tests.helpers.sqlite import open_sqlite, sqlite_settings
from tests.helpers.warehouse import design_event

pytestmark = pytest.mark.slow

KEYS = {"k-olga": {"user": "olga", "roles": ["operator"]}, "k-vic": {"user": "vic", "roles": ["viewer"]}}
NY = "PRJ-0000101"


@dataclass
class World(Served):
    def messages(self) -> list[str]:
        messenger: MemoryMessenger = self.deps.extras[MESSENGER]
        return [m["data"]["type"] for m in messenger.sent if m["address"] == "ny@example.test"]


def fail(deps: Deps, event_id: str, site: str = "NYC-00417", project: str = NY) -> str:
    """A failed engineering batch: the incident it opens (or adds to)."""
    fail_engineering_batch(deps, [design_event(event_id, 7, {"ANT-4T4R-B41": 3}, project, site,
                                               at="2026-11-20T08:00:00Z")])
    return deps.store.list_incidents(status="live").items[0].incident_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    settings = sqlite_settings(tmp_path_factory.mktemp("incidents"), OMS_API_KEYS=json.dumps(KEYS),
                               OMS_INCIDENT_SUBSCRIBERS=json.dumps([{"market": "New York", "mail": "ny@example.test"}]))
    with open_sqlite(settings, notifier=MemoryNotifier(), extras={MESSENGER: MemoryMessenger()}) as deps:
        load_samples(deps)
        ingest_engineering_events(deps, IngestEngineeringEvents([design_event(
            "e-ny-1", 1, {"ANT-4T4R-B41": 2}, NY, "NYC-00417", at="2026-11-20T08:00:00Z")], channel="http"))
        with serving(deps) as base:
            yield World(base, deps)


def test_a_viewer_reads_the_incident_and_its_impact_but_is_offered_no_action(
        world: World, driver: WebDriver, axe: str) -> None:
    incident_id = fail(world.deps, "e-ny-fail-1")
    sign_in_as(driver, world.base, "k-vic")
    open_page(driver, world.base, "#/incidents")

    row = driver.find_element(By.CSS_SELECTOR, f"#incidents tr[data-incident='{incident_id}']")
    assert row.get_attribute("data-status") == "open" and "New York" in row.text
    check_page(driver, axe, "incidents")
    stale(driver)
    row.find_element(By.TAG_NAME, "a").click()
    redrawn(driver)

    assert text_of(driver, "h1") == f"Incident {incident_id}"
    assert "1 order in 1 project (New York) affected." in text_of(driver, "#incident-impact")
    orders = driver.find_elements(By.CSS_SELECTOR, "#incident-orders tr[data-order]")
    assert [o.get_attribute("data-order") for o in orders] == [f"{NY}~NYC-00417~NewBuild~1"]
    assert "Draft age" in orders[0].text
    assert driver.find_elements(By.ID, "incident-actions") == []
    check_page(driver, axe, "incident-viewer")


def test_an_operator_acknowledges_and_resolves_and_the_market_hears_each_step(
        world: World, driver: WebDriver, axe: str) -> None:
    incident_id = fail(world.deps, "e-ny-fail-2")
    sign_in_as(driver, world.base, "k-olga")
    open_page(driver, world.base, f"#/incidents/{incident_id}")
    check_page(driver, axe, "incident-operator")

    by_id(driver, "i-note").send_keys("The store is failing over")
    stale(driver)
    driver.find_element(By.CSS_SELECTOR, "#incident-actions button[value=acknowledge]").click()
    redrawn(driver)
    wait_for(driver, lambda d: "is acknowledged" in d.find_element(By.ID, "status").text, "the acknowledgement")

    by_id(driver, "i-root-cause").send_keys("data disk full")
    by_id(driver, "i-resolution").send_keys("disk grown, events reprocessed")
    stale(driver)
    driver.find_element(By.CSS_SELECTOR, "#incident-actions button[value=resolve]").click()
    redrawn(driver)

    assert text_of(driver, "#fact-root-cause dd") == "data disk full"
    assert driver.find_elements(By.ID, "incident-actions") == []  # resolved is final
    incident = world.api("GET", f"/api/incidents/{incident_id}", "k-vic")
    assert incident["status"] == "resolved" and incident["resolved_by"] == "olga"
    assert world.messages()[-3:] == ["oms.incident.notice", "oms.incident.update", "oms.incident.resolved"]


def test_an_action_from_a_stale_page_is_refused_and_says_what_changed(world: World, driver: WebDriver) -> None:
    incident_id = fail(world.deps, "e-ny-fail-3")
    sign_in_as(driver, world.base, "k-olga")
    open_page(driver, world.base, f"#/incidents/{incident_id}")
    world.api("POST", f"/api/incidents/{incident_id}/acknowledge", "k-olga", {"note": "someone else"})

    by_id(driver, "i-note").send_keys("me too")
    driver.find_element(By.CSS_SELECTOR, "#incident-actions button[value=updates]").click()

    problem = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#incident-result .problem"),
                       "the refusal")
    assert "412" in problem.text and "changed the incident meanwhile" in problem.text
    notes = world.api("GET", f"/api/incidents/{incident_id}", "k-vic")["notes"]
    assert notes == ["someone else"]
