"""The console's incident pages in a real browser (headless Chromium, as
tests/browser/test_console.py): a viewer reads the list and the impact and is
offered no action; an operator acknowledges and resolves, the market's
stakeholder hears each step; a stale page's action is refused with what
changed. Screenshots under .artifacts/console/, axe-core clean."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from common.adapters.notify import MemoryNotifier
from common.adapters.sqlite import SqliteInventory, SqliteStore
from common.adapters.stakeholders import MemoryMessenger
from common.config import Settings
from common.service.bootstrap import Deps, build
from common.service.commands import IngestEngineeringEvents
from common.service.handlers.engineering import ingest_engineering_events
from common.service.stakeholders import MESSENGER
from tests.conftest import load_samples
from tests.helpers.browser import (
    axe_source,
    browser_skip_reason,
    by_id,
    console_problems,
    new_driver,
    open_page,
    quit_driver,
    redrawn,
    screenshot,
    serious_violations,
    serving,
    sign_in_as,
    stale,
    text_of,
    wait_for,
)
from tests.service.test_notifications import BrokenCommitStore

pytestmark = pytest.mark.slow

KEYS = {"k-olga": {"user": "olga", "roles": ["operator"]}, "k-vic": {"user": "vic", "roles": ["viewer"]}}
NY = "PRJ-0000101"


@dataclass
class World:
    base: str
    deps: Deps

    def api(self, method: str, path: str, key: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.base}{path}", headers={"X-API-Key": key}, json=body, timeout=30)
        assert response.is_success, response.text
        return response.json()

    def messages(self) -> list[str]:
        messenger: MemoryMessenger = self.deps.extras[MESSENGER]
        return [m["data"]["type"] for m in messenger.sent if m["address"] == "ny@example.test"]


def fail(deps: Deps, event_id: str, site: str = "NYC-00417", project: str = NY) -> str:
    """A failed engineering batch: the incident it opens (or adds to)."""
    broken = build(deps.settings, store=BrokenCommitStore(deps.store), inventory=deps.inventory, clock=deps.clock,
                   notifier=deps.notifier, extras=deps.extras)
    event = {"event_id": event_id, "event_type": "DesignApproved", "occurred_at": "2026-11-20T08:00:00Z",
             "project_id": project, "site_code": site, "order_type": "NewBuild", "design_version": 7,
             "items": [{"sku": "ANT-4T4R-B41", "qty": 3, "uom": "EA"}]}
    with pytest.raises(sqlite3.OperationalError):
        ingest_engineering_events(broken, IngestEngineeringEvents([event], channel="http"))
    return deps.store.list_incidents(status="live").items[0].incident_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("incidents")
    settings = Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH=str(folder / "oms.db"),  # type: ignore[call-arg]
                        OMS_DATA_DIR=str(folder / "data"), OMS_API_KEYS=json.dumps(KEYS),
                        OMS_INCIDENT_SUBSCRIBERS=json.dumps([{"market": "New York", "mail": "ny@example.test"}]))
    store, inventory = SqliteStore(settings.sqlite_path), SqliteInventory(settings.sqlite_path)
    store.ensure_schema()
    inventory.ensure_schema()
    deps = build(settings, store=store, inventory=inventory, notifier=MemoryNotifier(),
                 extras={MESSENGER: MemoryMessenger()})
    load_samples(deps)
    ingest_engineering_events(deps, IngestEngineeringEvents([
        {"event_id": "e-ny-1", "event_type": "DesignApproved", "occurred_at": "2026-11-20T08:00:00Z",
         "project_id": NY, "site_code": "NYC-00417", "order_type": "NewBuild", "design_version": 1,
         "items": [{"sku": "ANT-4T4R-B41", "qty": 2, "uom": "EA"}]}], channel="http"))
    with serving(deps) as base:
        yield World(base, deps)
    inventory.close()
    store.close()


@pytest.fixture(scope="module")
def driver(world: World) -> Iterator[WebDriver]:
    chrome = new_driver()
    try:
        yield chrome
    finally:
        quit_driver(chrome)


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


def check(driver: WebDriver, axe: str, name: str) -> None:
    screenshot(driver, name)
    assert serious_violations(driver, axe) == [], name
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
    assert overflow <= 1, f"{name}: the page is {overflow}px wider than the window"
    assert console_problems(driver) == [], name


def test_a_viewer_reads_the_incident_and_its_impact_but_is_offered_no_action(
        world: World, driver: WebDriver, axe: str) -> None:
    incident_id = fail(world.deps, "e-ny-fail-1")
    sign_in_as(driver, world.base, "k-vic")
    open_page(driver, world.base, "#/incidents")

    row = driver.find_element(By.CSS_SELECTOR, f"#incidents tr[data-incident='{incident_id}']")
    assert row.get_attribute("data-status") == "open" and "New York" in row.text
    check(driver, axe, "incidents")
    stale(driver)
    row.find_element(By.TAG_NAME, "a").click()
    redrawn(driver)

    assert text_of(driver, "h1") == f"Incident {incident_id}"
    assert "1 order in 1 project (New York) affected." in text_of(driver, "#incident-impact")
    orders = driver.find_elements(By.CSS_SELECTOR, "#incident-orders tr[data-order]")
    assert [o.get_attribute("data-order") for o in orders] == [f"{NY}~NYC-00417~NewBuild~1"]
    assert "Draft age" in orders[0].text
    assert driver.find_elements(By.ID, "incident-actions") == []
    check(driver, axe, "incident-viewer")


def test_an_operator_acknowledges_and_resolves_and_the_market_hears_each_step(
        world: World, driver: WebDriver, axe: str) -> None:
    incident_id = fail(world.deps, "e-ny-fail-2")
    sign_in_as(driver, world.base, "k-olga")
    open_page(driver, world.base, f"#/incidents/{incident_id}")
    check(driver, axe, "incident-operator")

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
