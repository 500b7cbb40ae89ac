"""Browser tests keep a screenshot of every open browser when a test fails
(.artifacts/console/<test>-failed-<n>.png), taken right after the test's
body and before its fixtures close the browsers, beside the screenshots each
test takes of the pages it checks."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.helpers.browser import OPEN_DRIVERS, screenshot


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
