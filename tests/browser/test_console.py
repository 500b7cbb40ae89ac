"""The review console in a real browser: headless Chromium (Selenium, Debian's
chromium-driver) against the app served as `oms serve` serves it, on SQLite,
with the bundled samples and one project per scenario whose design arrives
as an engineering event over HTTP. People act only through the console;
what outside systems do (a design, the warehouse's answers) is posted to the
API as they would post it. Every page is screenshotted under
.artifacts/console/ and checked with axe-core (no serious or critical
violation), at 1280 px and on a tablet.

One server and one browser for the module; a test that needs a second
person at the same time opens a second browser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from common.adapters.notify import MemoryNotifier
from common.domain.models import CatalogItem, Project
from common.ports import OrderQuery
from common.service.commands import IngestEngineeringEvents, decode_json
from common.service.handlers.engineering import ingest_engineering_events
from tests.conftest import SAMPLES, load_samples
from tests.helpers.browser import (
    Served,
    browser_skip_reason,
    by_id,
    check_page,
    new_driver,
    open_page,
    quit_driver,
    ready,
    redrawn,
    screenshot,
    serving,
    sign_in_as,
    stale,
    text_of,
    wait_for,
)
from tests.helpers.sqlite import open_sqlite, sqlite_settings
from tests.helpers.warehouse import design_event

pytestmark = pytest.mark.slow

KEYS: dict[str, dict[str, Any]] = {
    "k-ana": {"user": "ana", "roles": ["planner"]},
    "k-ben": {"user": "ben", "roles": ["planner"]},
    "k-carla": {"user": "carla", "roles": ["approver"]},
    "k-dan": {"user": "dan", "roles": ["approver"]},
    "k-olga": {"user": "olga", "roles": ["operator"]},
    "k-vic": {"user": "vic", "roles": ["viewer"]},
    "k-pat": {"user": "pat", "roles": ["planner", "approver"]},
    "k-int": {"user": "warehouse", "roles": ["integration"]},
}
WH = "WH-EAST"
DESIGN = {"ANT-4T4R-B41": 2, "RRU-B41-160W": 2, "CBL-HYB-30M": 4}
SCENARIOS = ("FLOW", "CONFLICT", "FOUR", "RETURN", "VIEW")
ARCHIVED = 30  # closed orders of one project, more than a page of the queue


@dataclass
class World(Served):
    orders: dict[str, str]  # scenario -> its order id

    def order(self, scenario: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/api/orders/{self.orders[scenario]}", "k-vic"))


def scenario_project(name: str) -> Project:
    return Project(project_id=f"PRJ-E2E-{name}", site_code=f"E2E-{name}", market="New York", region="Northeast",
                   project_status="Active", milestone="MilestoneApproved", plan_type="Coverage",
                   national_priority=2, gated=False, warehouse_id=WH)


def design(name: str, event_id: str, items: dict[str, int], site: str | None = None,
           project: str | None = None) -> dict[str, Any]:
    return design_event(event_id, 1, items, project or f"PRJ-E2E-{name}", site or f"E2E-{name}",
                        at="2026-11-20T08:00:00Z")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    settings = sqlite_settings(tmp_path_factory.mktemp("console"), OMS_API_KEYS=json.dumps(KEYS))
    with open_sqlite(settings, notifier=MemoryNotifier()) as deps:
        load_samples(deps)
        sample_events = [decode_json(line) for line in
                         (SAMPLES / "engineering-events.jsonl").read_text().splitlines() if line.strip()]
        ingest_engineering_events(deps, IngestEngineeringEvents(sample_events, channel="file"))
        deps.store.put_projects([scenario_project(name) for name in (*SCENARIOS, "ARCHIVE")])
        deps.inventory.set_on_hand([(WH, sku, 500) for sku in ("ANT-4T4R-B41", "RRU-B41-160W", "CBL-HYB-30M",
                                                               "MNT-PIPE-2M", "BBU-5G-SA")], deps.clock.now())
        with serving(deps) as base:
            here = World(base, deps, {})
            results = here.api("POST", "/api/events/engineering", "k-int",
                               [design(name, f"e2e-{name}", DESIGN) for name in SCENARIOS])["results"]
            here.orders = {name: r["order_id"] for name, r in zip(SCENARIOS, results, strict=True)}
            _archive(here)
            _returned(here)
            yield here


def _archive(world: World) -> None:
    """Orders enough for two pages of one project: designs for one stream,
    each closed by the warehouse once released (written as the system would)."""
    from common.domain.effects import evolve
    from common.domain.models import OrderStatus
    from common.service.unit_of_work import UnitOfWork

    result = world.api("POST", "/api/events/engineering", "k-int", design("ARCHIVE", "e2e-archive", {"MNT-PIPE-2M": 1}))
    first = world.deps.store.get_order(result["results"][0]["order_id"])
    assert first is not None
    uow = UnitOfWork(world.deps.store, world.deps.inventory)
    for seq in range(2, ARCHIVED + 1):
        uow.put_order(evolve(first.model_copy(update={"order_id": first.order_id[:-1] + str(seq), "seq": seq,
                                                      "etag": None}), first.created_at, status=OrderStatus.CLOSED))
    assert uow.commit().ok


def _returned(world: World) -> None:
    """The RETURN scenario's order approved, allocated, released, delivered and
    partly returned damaged, through the API as the people and the warehouse
    before the approver's review would have done it."""
    order_id = world.orders["RETURN"]
    world.api("POST", f"/api/orders/{order_id}/approve", "k-dan", {})
    for other in ("FLOW", "CONFLICT", "FOUR", "VIEW"):
        assert world.order(other)["status"] == "Draft"  # only the RETURN order is allocated now
    world.api("POST", "/api/allocation/runs", "k-olga", {"dry_run": False, "mode": "greedy"})
    assert world.order("RETURN")["status"] == "Released"
    world.api("POST", "/api/warehouse/callbacks", "k-int", [
        {"event_id": "wh-ret-1", "event_type": "ReleaseCompleted", "occurred_at": "2026-11-21T08:00:00Z",
         "order_id": order_id},
        {"event_id": "wh-ret-2", "event_type": "ReturnReceived", "occurred_at": "2026-11-22T08:00:00Z",
         "order_id": order_id, "reason": "damaged", "items": [{"sku": "ANT-4T4R-B41", "qty": 1}]}])
    assert world.order("RETURN")["status"] == "PartiallyReturned"


def submit(driver: WebDriver, form_id: str) -> None:
    stale(driver)
    driver.find_element(By.CSS_SELECTOR, f"#{form_id} button[type=submit]").click()


def said(driver: WebDriver, message: str) -> None:
    """Waits for the page's status message to start with `message`."""
    wait_for(driver, lambda d: d.find_element(By.ID, "status").text.startswith(message), f"the message {message!r}")


def fact(driver: WebDriver, name: str) -> str:
    return text_of(driver, f"#fact-{name} dd")


# ------------------------------------------------------------------ sign-in
def test_signing_in_keeps_the_key_in_the_tab_never_in_the_url_and_survives_a_reload(
        world: World, driver: WebDriver, axe: str) -> None:
    driver.get(f"{world.base}/api/console#/queue?status=Draft")
    driver.execute_script("window.sessionStorage.clear(); window.location.reload();")
    assert ready(driver) == "signin"
    check_page(driver, axe, "signin")
    by_id(driver, "signin-key").send_keys("not-a-key")
    driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
    assert "not valid" in text_of(driver, "#signin-error")

    key = by_id(driver, "signin-key")
    key.clear()
    key.send_keys("k-ana")
    stale(driver)
    driver.find_element(By.CSS_SELECTOR, "form.signin button").click()
    assert ready(driver) == "1"
    assert text_of(driver, "#user") == "ana"
    assert "k-ana" not in driver.current_url and "key" not in driver.current_url
    assert driver.execute_script("return window.localStorage.length") == 0

    stale(driver)
    driver.refresh()  # a reload (or the bookmark of this address) lands on the same page, still signed in
    assert ready(driver) == "1"
    assert text_of(driver, "h1") == "Work queue"
    assert Select(by_id(driver, "f-status")).first_selected_option.get_attribute("value") == "Draft"

    driver.get(f"{world.base}/api/dashboard")  # the dashboard shares the tab's sign-in
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1", "the dashboard")
    assert int(text_of(driver, "#total-orders").replace(",", "")) > 0
    check_page(driver, axe, "dashboard")
    driver.refresh()
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1", "the dashboard again")

    by_id(driver, "forget-key").click()  # the dashboard's sign-out forgets the key of the tab
    driver.get(f"{world.base}/api/console#/queue")
    assert ready(driver) == "signin"


# ---------------------------------------------------------------- the queue
def test_the_queue_filters_counts_and_pages_with_the_api(world: World, driver: WebDriver, axe: str) -> None:
    sign_in_as(driver, world.base, "k-vic")
    open_page(driver, world.base, "#/queue")
    counts = world.api("GET", "/api/queue/counts", "k-vic")["counts"]
    for state, count in counts.items():
        shown = driver.find_element(By.CSS_SELECTOR, f".counts a[data-state='{state}'] .count").text
        assert int(shown.replace(",", "")) == count, state
    check_page(driver, axe, "queue")

    Select(by_id(driver, "f-status")).select_by_value("Closed")
    by_id(driver, "f-project_id").send_keys("PRJ-E2E-ARCHIVE")
    submit(driver, "view form.filters")
    redrawn(driver)
    assert "status=Closed" in driver.current_url and "project_id=PRJ-E2E-ARCHIVE" in driver.current_url
    first = [row.get_attribute("data-order") for row in driver.find_elements(By.CSS_SELECTOR, "#queue tr[data-order]")]
    stale(driver)
    by_id(driver, "next-page").click()
    redrawn(driver)
    second = [row.get_attribute("data-order") for row in driver.find_elements(By.CSS_SELECTOR, "#queue tr[data-order]")]
    assert len(first) == 25
    assert not set(first) & set(second)
    assert len(first) + len(second) == ARCHIVED - 1  # the first of the stream is still Draft
    assert driver.find_elements(By.ID, "next-page") == []

    Select(by_id(driver, "f-sort")).select_by_value("waiting")
    submit(driver, "view form.filters")
    redrawn(driver)
    assert "sort=waiting" in driver.current_url


def test_the_queue_works_from_the_keyboard(world: World, driver: WebDriver) -> None:
    sign_in_as(driver, world.base, "k-vic")
    open_page(driver, world.base, "#/queue?status=Draft")
    address = driver.current_url
    driver.execute_script("document.querySelector('nav a').focus();")  # the first link of the header
    keys = ActionChains(driver)
    keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    assert driver.switch_to.active_element.text == "Skip to content"  # first in the tab order
    keys.send_keys(Keys.ENTER).perform()
    assert driver.switch_to.active_element.get_attribute("id") == "view"
    assert driver.current_url == address  # the skip link leaves the route alone
    keys.send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element.get_attribute("id") == "f-status"
    for _ in range(6):  # project, market, kind, age, SLA breached, sort
        keys.send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element.get_attribute("id") == "f-sort"
    keys.send_keys(Keys.TAB).perform()
    stale(driver)
    keys.send_keys(Keys.ENTER).perform()  # Apply
    redrawn(driver)
    first_order = driver.find_element(By.CSS_SELECTOR, "#queue tr[data-order] a")
    first_order.send_keys(Keys.ENTER)
    wait_for(driver, lambda d: "#/orders/" in d.current_url, "the order page")


# ------------------------------------------------- a planner's order, end to end
def test_a_planner_takes_a_draft_order_to_released_and_back_through_a_warehouse_rejection(
        world: World, driver: WebDriver, axe: str) -> None:
    order_id = world.orders["FLOW"]
    sign_in_as(driver, world.base, "k-ana")
    open_page(driver, world.base, "#/queue?status=Draft&project_id=PRJ-E2E-FLOW")
    stale(driver)
    driver.find_element(By.CSS_SELECTOR, f"#queue tr[data-order='{order_id}'] a").click()
    redrawn(driver)
    assert fact(driver, "status") == "Draft"
    check_page(driver, axe, "order-draft")

    qty = driver.find_element(By.CSS_SELECTOR, "#edit-lines tr[data-sku='CBL-HYB-30M'] input.qty")
    qty.clear()
    qty.send_keys("6")
    submit(driver, "edit-lines")
    said(driver, "Lines saved")
    assert text_of(driver, "#lines tr[data-sku='CBL-HYB-30M'] .qty") == "6"
    by_id(driver, "add-sku").send_keys("MNT-PIPE-2M")
    by_id(driver, "add-qty").send_keys("2")
    submit(driver, "add-items")
    said(driver, "Item added")
    assert text_of(driver, "#lines tr[data-sku='MNT-PIPE-2M'] .source") == "manual"
    assert "lines[CBL-HYB-30M].qty: 4 → 6" in text_of(driver, "#audit").replace("\n", " ") \
        or "4 → 6" in text_of(driver, "#audit")
    assert driver.find_elements(By.ID, "approve") == []  # a planner may not approve
    assert "approver role" in text_of(driver, "#role-note")

    sign_in_as(driver, world.base, "k-carla")
    open_page(driver, world.base, f"#/orders/{order_id}")
    submit(driver, "approve")
    said(driver, "Order approved")
    assert fact(driver, "status") == "Approved"

    sign_in_as(driver, world.base, "k-olga")
    open_page(driver, world.base, "#/allocation")
    Select(by_id(driver, "run-mode")).select_by_value("greedy")
    by_id(driver, "dry-run").click()
    row = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"#run-result tr[data-order='{order_id}']"),
                   "the dry run's line for the order")
    assert row.get_attribute("data-outcome") == "allocated"
    check_page(driver, axe, "allocation-dry-run")
    assert world.order("FLOW")["status"] == "Approved"  # a dry run changes nothing
    stale(driver)
    by_id(driver, "run-now").click()
    redrawn(driver)
    run_id = driver.find_element(By.CSS_SELECTOR, "#runs tr[data-run]").get_attribute("data-run")
    stale(driver)
    driver.find_element(By.CSS_SELECTOR, f"#runs tr[data-run='{run_id}'] a").click()
    redrawn(driver)
    assert driver.find_element(By.CSS_SELECTOR, f"#run-orders tr[data-order='{order_id}']") \
        .get_attribute("data-outcome") == "allocated"
    check_page(driver, axe, "allocation-run")

    sign_in_as(driver, world.base, "k-ana")
    open_page(driver, world.base, f"#/orders/{order_id}")
    assert fact(driver, "status") == "Released"
    assert "WH-EAST" in text_of(driver, "#reservation")
    assert fact(driver, "outcome") == "allocated"
    assert driver.find_elements(By.CSS_SELECTOR, "#events tr[data-type='oms.order.release_requested']")
    check_page(driver, axe, "order-released")

    world.api("POST", "/api/warehouse/callbacks", "k-int", {
        "event_id": "wh-flow-1", "event_type": "ReleaseRejected", "occurred_at": "2026-11-21T08:00:00Z",
        "order_id": order_id, "reason": "config_mismatch"})
    open_page(driver, world.base, f"#/orders/{order_id}")
    assert fact(driver, "status") == "Draft"
    assert fact(driver, "rejection") == "config_mismatch"
    assert text_of(driver, "#reservation") == "No stock reserved."
    assert driver.find_elements(By.CSS_SELECTOR, "#audit li[data-action='warehouse_reject']")
    assert driver.find_elements(By.ID, "edit-lines")  # back with the planner
    check_page(driver, axe, "order-rejected-by-warehouse")


# --------------------------------------------------- two people, one order
def test_two_planners_editing_one_order_the_second_sees_what_changed_and_reapplies(
        world: World, driver: WebDriver, axe: str) -> None:
    order_id = world.orders["CONFLICT"]
    other = new_driver()
    try:
        sign_in_as(driver, world.base, "k-ana")
        open_page(driver, world.base, f"#/orders/{order_id}")
        sign_in_as(other, world.base, "k-ben")
        open_page(other, world.base, f"#/orders/{order_id}")

        mine = driver.find_element(By.CSS_SELECTOR, "#edit-lines tr[data-sku='ANT-4T4R-B41'] input.qty")
        mine.clear()
        mine.send_keys("5")
        submit(driver, "edit-lines")
        said(driver, "Lines saved")

        theirs = other.find_element(By.CSS_SELECTOR, "#edit-lines tr[data-sku='RRU-B41-160W'] input.qty")
        theirs.clear()
        theirs.send_keys("7")
        other.find_element(By.CSS_SELECTOR, "#edit-lines button[type=submit]").click()
        conflict = wait_for(other, lambda d: d.find_element(By.ID, "conflict"), "the conflict")
        assert "ana" in conflict.text
        assert "2 → 5" in text_of(other, "#changed-meanwhile")
        assert world.order("CONFLICT")["lines"][0]["qty"] in (2, 5)
        check_page(other, axe, "order-conflict")

        stale(other)
        by_id(other, "reapply").click()
        said(other, "Lines saved")
        lines = {line["sku"]: line["qty"] for line in world.order("CONFLICT")["lines"]}
        assert lines == {"ANT-4T4R-B41": 5, "RRU-B41-160W": 7, "CBL-HYB-30M": 4}

        # The first planner's page is now the stale one: cancelling from it is refused, nothing changes.
        by_id(driver, "cancel-reason").send_keys("site dropped")
        driver.find_element(By.CSS_SELECTOR, "#cancel button[type=submit]").click()
        refusal = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#cancel .problem"), "the refusal")
        assert "412" in refusal.text and "changed this order" in refusal.text
        assert world.order("CONFLICT")["status"] == "Draft"
        stale(driver)
        driver.find_element(By.CSS_SELECTOR, "#cancel button.show-current").click()
        redrawn(driver)
        assert text_of(driver, "#lines tr[data-sku='RRU-B41-160W'] .qty") == "7"
    finally:
        quit_driver(other)


# ----------------------------------------------------------------- four eyes
def test_an_approver_who_made_the_last_change_is_refused_with_the_four_eyes_rule(
        world: World, driver: WebDriver, axe: str) -> None:
    order_id = world.orders["FOUR"]
    sign_in_as(driver, world.base, "k-pat")
    open_page(driver, world.base, f"#/orders/{order_id}")
    by_id(driver, "add-sku").send_keys("BBU-5G-SA")
    by_id(driver, "add-qty").send_keys("1")
    submit(driver, "add-items")
    said(driver, "Item added")
    assert "four eyes" in text_of(driver, "#approve .note")

    driver.find_element(By.CSS_SELECTOR, "#approve button[type=submit]").click()
    refusal = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#approve .problem"), "the refusal")
    assert "four-eyes" in refusal.text.lower() or "four eyes" in refusal.text.lower()
    assert "Another approver has to" in refusal.text
    assert fact(driver, "status") == "Draft"
    check_page(driver, axe, "order-four-eyes")

    sign_in_as(driver, world.base, "k-dan")
    open_page(driver, world.base, f"#/orders/{order_id}")
    submit(driver, "approve")
    said(driver, "Order approved")
    assert world.order("FOUR")["approved_by"] == "dan"


# -------------------------------------------------------- who may not act
def test_a_viewer_reads_every_page_but_is_offered_no_action(world: World, driver: WebDriver, axe: str) -> None:
    sign_in_as(driver, world.base, "k-vic")
    open_page(driver, world.base, f"#/orders/{world.orders['VIEW']}")
    assert driver.find_elements(By.CSS_SELECTOR, "#actions form") == []
    assert "viewer" in text_of(driver, "#no-actions")
    assert "planner role" in text_of(driver, "#role-note") and "approver role" in text_of(driver, "#role-note")
    open_page(driver, world.base, "#/quarantine")
    assert driver.find_elements(By.CSS_SELECTOR, "button.reprocess") == []
    assert "operator role" in text_of(driver, "#role-note")
    open_page(driver, world.base, "#/allocation")
    assert driver.find_elements(By.ID, "run-form") == []
    before = world.order("VIEW")
    # The API refuses the viewer too: the console only leaves out what would be refused.
    refused = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(`/api/orders/${encodeURIComponent(arguments[0])}/approve`, {method: 'POST',"
        " headers: {'X-API-Key': sessionStorage.getItem('oms.apiKey'), 'Content-Type': 'application/json'},"
        " body: '{}'}).then(r => done(r.status));", world.orders["VIEW"])
    assert refused == 403
    assert world.order("VIEW") == before


# ---------------------------------------------------------- a returned order
def test_an_approver_reviews_a_returned_order_back_to_draft(world: World, driver: WebDriver, axe: str) -> None:
    order_id = world.orders["RETURN"]
    sign_in_as(driver, world.base, "k-carla")
    open_page(driver, world.base, f"#/orders/{order_id}")
    assert fact(driver, "status") == "PartiallyReturned"
    assert text_of(driver, "#return-review tr[data-sku='ANT-4T4R-B41'] .returned") == "1"
    assert text_of(driver, "#return-review tr[data-sku='ANT-4T4R-B41'] .stayed") == "1"
    followers = driver.find_elements(By.CSS_SELECTOR, "#followers li[data-order]")
    assert followers, "the damaged return's follow-up order"
    check_page(driver, axe, "order-returned")

    by_id(driver, "reject-reason").send_keys("damaged unit replaced by the follow-up; review what the site needs")
    submit(driver, "reject")
    said(driver, "Return reviewed: the order is back in Draft")
    assert fact(driver, "status") == "Draft"
    entry = driver.find_element(By.CSS_SELECTOR, "#audit li[data-action='reject']")
    assert "PartiallyReturned" in entry.text and "Draft" in entry.text and "carla" in entry.text


# -------------------------------------------------------------- quarantine
def test_an_operator_reprocesses_quarantined_events_one_and_many(world: World, driver: WebDriver, axe: str) -> None:
    records = world.api("GET", "/api/quarantine?status=open", "k-vic")["items"]
    unknown_sku = next(r for r in records if r.get("event_id") == "evt-000010")
    unknown_project = next(r for r in records if r.get("event_id") == "evt-000009")
    # The cause is fixed where it lies (the catalogue); the operator tries the event again.
    world.deps.store.put_catalog([CatalogItem(sku="NOT-A-SKU", description="now catalogued", uom="EA", active=True),
                                  CatalogItem(sku="PSU-48V-OLD", description="back in the range", uom="EA",
                                              active=True)])

    sign_in_as(driver, world.base, "k-olga")
    open_page(driver, world.base, f"#/quarantine?source={unknown_sku['source']}")
    rows = driver.find_elements(By.CSS_SELECTOR, "#quarantine tr[data-record]")
    shown = {row.get_attribute("data-source") for row in rows}
    assert shown == {unknown_sku["source"]}
    row = driver.find_element(By.CSS_SELECTOR, f"#quarantine tr[data-record='{unknown_sku['id']}']")
    assert "NOT-A-SKU" in row.text
    row.find_element(By.TAG_NAME, "summary").click()
    assert "evt-000010" in row.find_element(By.CSS_SELECTOR, "pre.payload").text
    check_page(driver, axe, "quarantine")

    stale(driver)
    row.find_element(By.CSS_SELECTOR, "button.reprocess").click()
    redrawn(driver)
    result = wait_for(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, f"#reprocess-results li[data-record='{unknown_sku['id']}']"), "the reprocessing result")
    assert result.get_attribute("data-status") == "reprocessed" and "created" in result.text
    assert world.deps.store.query_orders(OrderQuery(project_id="PRJ-0000104", site_code="DAL-00555")).items

    open_page(driver, world.base, "#/quarantine?status=open")
    for record in (unknown_project,):
        driver.find_element(By.ID, f"pick-{record['id']}").click()
    stale(driver)
    by_id(driver, "reprocess-selected").click()
    redrawn(driver)
    still = wait_for(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, f"#reprocess-results li[data-record='{unknown_project['id']}']"), "the second result")
    assert still.get_attribute("data-status") == "open"  # the project is still unknown: it stays, with its reasons
    assert world.api("GET", f"/api/quarantine?status=open&source={unknown_project['source']}", "k-vic")["items"]


# ------------------------------------------------------------ jobs and docs
def test_the_jobs_page_lists_runs_with_counts_and_links_the_dashboard(world: World, driver: WebDriver,
                                                                     axe: str) -> None:
    sign_in_as(driver, world.base, "k-vic")
    open_page(driver, world.base, "#/jobs")
    jobs = world.api("GET", "/api/jobs?limit=100", "k-vic")["items"]
    shown = [row.get_attribute("data-job") for row in driver.find_elements(By.CSS_SELECTOR, "#jobs tr[data-job]")]
    assert shown == [j["job_id"] for j in jobs]
    check_page(driver, axe, "jobs")
    by_id(driver, "dashboard-link").click()
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.ready") == "1", "the dashboard")
    assert driver.current_url == f"{world.base}/api/dashboard"


def test_the_api_docs_render_offline_from_the_apps_own_assets(world: World, driver: WebDriver) -> None:
    driver.get(f"{world.base}/api/docs")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"), "Swagger UI's operations")
    assert "Telecom OMS review API" in driver.find_element(By.CSS_SELECTOR, ".info .title").text
    requested = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert requested and all(url.startswith(world.base) for url in requested), requested
    screenshot(driver, "api-docs")
    driver.get(f"{world.base}/api")  # the address the server prints
    assert driver.current_url.startswith(f"{world.base}/api/console")

