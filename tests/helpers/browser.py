"""Building blocks of the browser tests: the app served as `oms serve` serves
it (uvicorn on 127.0.0.1 and a free port, in a thread, on a real SQLite
store), headless Chromium driven by Selenium through Debian's chromium-driver
(the driver always matches the browser: both come from the same Debian
source), screenshots under .artifacts/, and an axe-core check of a page.

Selenium, not Playwright: Playwright drives browsers through its own build of
each one and only promises to work with those; Debian's chromedriver speaks
the W3C WebDriver protocol to the very chromium installed here, so nothing is
downloaded at run time and a browser update brings its own driver.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from common.api.app import create_app
from common.api.deps import provide_deps
from common.service.bootstrap import Deps
from tests.service.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts" / "console"
WAIT = 30.0  # upper bound for a page on a busy 2-core machine; waits end as soon as the page is there
DESKTOP = (1280, 900)
TABLET = (820, 1180)  # an iPad Air in portrait


def browser_skip_reason() -> str | None:
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        return "chromium and chromium-driver are not installed (scripts/test installs them with apt-get)"
    return None


@contextmanager
def serving(deps: Deps) -> Iterator[str]:
    """The app on `deps`, as `oms serve` runs it; yields its base URL."""
    app = create_app()
    app.dependency_overrides[provide_deps] = lambda: deps
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def new_driver(size: tuple[int, int] = DESKTOP) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver") or "chromedriver"))
    driver.set_window_size(*size)
    driver.set_script_timeout(WAIT)
    OPEN_DRIVERS.append(driver)
    return driver


def quit_driver(driver: WebDriver) -> None:
    if driver in OPEN_DRIVERS:
        OPEN_DRIVERS.remove(driver)
    driver.quit()


# The drivers of the test running now, for a screenshot when it fails
# (tests/browser/conftest.py).
OPEN_DRIVERS: list[WebDriver] = []


def wait_for(driver: WebDriver, condition: Any, what: str, timeout: float = WAIT) -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)
    except TimeoutException as error:
        raise AssertionError(f"waited {timeout:.0f}s for {what}; page says: "
                             f"{driver.find_element(By.TAG_NAME, 'body').text[:800]!r}") from error


def ready(driver: WebDriver) -> str:
    """The console's state: "1" once a page is drawn, "signin", "error"."""
    state = wait_for(driver, lambda d: d.execute_script(
        "const s = document.body && document.body.dataset.ready; return s && s !== '0' ? s : null;"),
        "the page to be drawn")
    return str(state)


def sign_in_as(driver: WebDriver, base: str, key: str) -> None:
    """The tab's sign-in, as the sign-in form leaves it (the form itself is
    exercised by its own test)."""
    driver.get(f"{base}/api/console#/jobs")
    driver.execute_script("window.sessionStorage.setItem('oms.apiKey', arguments[0]);", key)
    driver.refresh()
    assert ready(driver) == "1", driver.find_element(By.TAG_NAME, "body").text[:800]


def open_page(driver: WebDriver, base: str, route: str) -> None:
    """A console page by its address, as a link, a bookmark or typing it does."""
    driver.execute_script("if (document.body) document.body.dataset.ready = '0';")
    url = f"{base}/api/console{route}"
    if driver.current_url == url:
        driver.refresh()
    else:
        driver.get(url)  # another hash of the same page: the console draws it, as after a click
    assert ready(driver) == "1", driver.find_element(By.TAG_NAME, "body").text[:800]


def redrawn(driver: WebDriver) -> None:
    """Waits for the page an action leads to (call `stale` before the action)."""
    assert ready(driver) == "1", driver.find_element(By.TAG_NAME, "body").text[:800]


def stale(driver: WebDriver) -> None:
    driver.execute_script("document.body.dataset.ready = '0';")


def by_id(driver: WebDriver, element_id: str) -> WebElement:
    return wait_for(driver, lambda d: d.find_element(By.ID, element_id), f"#{element_id}")


def text_of(driver: WebDriver, css: str) -> str:
    return str(wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, css), css).text)


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # The whole page, not only the window: set the window as tall as the page.
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    full = int(driver.execute_script("return Math.max(document.body.scrollHeight, window.innerHeight);"))
    driver.set_window_size(width, min(max(height, full + 120), 6000))
    driver.save_screenshot(str(path))
    driver.set_window_size(width, height)
    return path


def console_problems(driver: WebDriver) -> list[str]:
    """Errors the page logged (a refused request the page handles is no error
    of the page: the browser logs every 4xx fetch, so those are left out)."""
    out = []
    for entry in driver.get_log("browser"):
        message = str(entry.get("message", ""))
        if entry.get("level") in ("SEVERE",) and "the server responded with a status of 4" not in message:
            out.append(message)
    return out


def axe_source() -> str:
    """axe-core's script, from the npm packages tests/emulators/launcher.py installs."""
    from tests.emulators.launcher import HOME, install, missing_tools

    path = HOME / "node_modules" / "axe-core" / "axe.min.js"
    if not path.exists():
        reason = missing_tools()
        if reason is not None:
            pytest.skip(f"axe-core cannot be installed: {reason}")
        install()
    return path.read_text(encoding="utf-8")


def serious_violations(driver: WebDriver, source: str) -> list[str]:
    """axe-core run on the page as it is; serious and critical findings, one line each."""
    driver.execute_script(source)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(r.violations)),"
        " e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}])));")
    violations = json.loads(result)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n.get('target') for n in v.get('nodes', [])][:5]}"
            for v in violations if v.get("impact") in ("serious", "critical")]


@dataclass
class Served:
    """The app served at `base` on `deps`, and its API as an outside system
    or a second person calls it."""

    base: str
    deps: Deps

    def api(self, method: str, path: str, key: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.base}{path}", headers={"X-API-Key": key}, json=body, timeout=30)
        assert response.is_success, response.text
        return response.json()


def check_page(driver: WebDriver, axe: str, name: str) -> None:
    """A page checked as the browser tests check every page: a screenshot,
    axe-core without serious or critical violations, no horizontal overflow
    at 1280 px nor at tablet width (a screenshot of that too), no page error."""
    screenshot(driver, name)
    assert serious_violations(driver, axe) == [], name
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
    assert overflow <= 1, f"{name}: the page is {overflow}px wider than the window"
    driver.set_window_size(*TABLET)
    try:
        screenshot(driver, f"{name}-tablet")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
        assert overflow <= 1, f"{name} on a tablet: the page is {overflow}px wider than the window"
    finally:
        driver.set_window_size(*DESKTOP)
    assert console_problems(driver) == [], name
