"""What every browser test module shares: one headless Chromium per module
(`driver`), axe-core's script (`axe`), and a screenshot of every open browser
when a test fails (.artifacts/console/<test>-failed-<n>.png), taken right
after the test's body and before its fixtures close the browsers, beside the
screenshots each test takes of the pages it checks."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.browser import OPEN_DRIVERS, axe_source, browser_skip_reason, new_driver, quit_driver, screenshot


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    chrome = new_driver()
    try:
        yield chrome
    finally:
        quit_driver(chrome)


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_source()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for n, driver in enumerate(list(OPEN_DRIVERS)):
            try:
                screenshot(driver, f"{item.name}-failed-{n}")
            except Exception as error:  # a dead browser must not hide the test's own failure
                item.add_report_section("call", "screenshot", f"no screenshot of browser {n}: {error}")
