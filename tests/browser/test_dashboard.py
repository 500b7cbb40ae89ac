"""The dashboard in a real browser: headless Chromium loads the page from a
live server, the page shows the numbers the API returns, and the console
stays clean. A screenshot is kept in .artifacts/dashboard.png.

Chromium is driven through the DevTools protocol (a websocket) so console
messages and exceptions are caught as they happen, not scraped from logs.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websocket

from common.adapters.clock import FixedClock
from common.config import Settings
from common.service.bootstrap import Deps
from tests.helpers.browser import serving
from tests.service.test_metrics import KEYS, populate

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts"
WAIT = 60.0  # upper bound for the browser to start and the page to load on a busy machine

pytestmark = pytest.mark.slow


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(OMS_SQLITE_PATH=str(tmp_path / "oms.db"), OMS_DATA_DIR=str(tmp_path / "d"),  # type: ignore[call-arg]
                    OMS_API_KEYS=json.dumps(KEYS))


@pytest.fixture
def server(seeded: Deps, clock: FixedClock) -> Iterator[str]:
    """The API as `oms serve` runs it: uvicorn on 127.0.0.1, a free port, a thread."""
    populate(seeded, clock)
    with serving(seeded) as base:
        yield base


@dataclass
class DevTools:
    """A minimal DevTools-protocol client over one websocket."""

    ws: websocket.WebSocket
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, failed loads."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {[a.get('value') for a in params.get('args', [])]}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                found.append(f"log {entry.get('level')}: {entry.get('text')} {entry.get('url', '')}")
        return found


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (scripts/test installs it with apt-get)")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
         "--remote-debugging-port=0", "--remote-allow-origins=*", "--window-size=1400,1300", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + WAIT
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not open its DevTools port (exit {proc.poll()})")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        targets: list[dict[str, Any]] = []
        while not targets:
            targets = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page"]
            if time.monotonic() > deadline:
                raise RuntimeError("chromium opened no page")
            time.sleep(0.1)
        ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=WAIT, suppress_origin=True)
        tools = DevTools(ws)
        for domain in ("Runtime", "Log", "Page"):
            tools.call(f"{domain}.enable")
        tools.call("Emulation.setDeviceMetricsOverride", width=1400, height=1300, deviceScaleFactor=1, mobile=False)
        yield tools
        ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_loaded(tools: DevTools) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        state = tools.evaluate("document.body ? document.body.dataset.ready : null")
        if state in ("1", "error", "signin") or time.monotonic() > deadline:
            return str(state)
        time.sleep(0.1)


READ_PAGE = """(() => {
  const text = (id) => document.getElementById(id).textContent.trim();
  const num = (s) => Number(s.replace(/,/g, ''));
  const states = {};
  for (const row of document.querySelectorAll('#states tbody tr[data-state]')) {
    states[row.dataset.state] = {count: num(row.querySelector('.count').textContent),
                                 breaching: num(row.querySelector('.breaching').textContent),
                                 flagged: num(row.querySelector('.flagged').textContent)};
  }
  const days = {};
  for (const g of document.querySelectorAll('#throughput-chart g[data-day]')) {
    days[g.dataset.day] = [Number(g.dataset.created), Number(g.dataset.closed)];
  }
  return {total: num(text('total-orders')), open: num(text('open-breaches')), flagged: num(text('flagged-breaches')),
          quarantine: num(text('quarantine-open')), bottleneck: text('bottleneck'), states, days,
          jobs: [...document.querySelectorAll('#jobs tbody tr[data-job]')].map(r => r.dataset.job),
          quarantined: [...document.querySelectorAll('#quarantine tbody tr[data-quarantine]')]
                         .map(r => r.dataset.quarantine),
          overdue: [...document.querySelectorAll('#breaches tbody tr[data-order]')].map(r => r.dataset.order),
          keyInUrl: location.search.includes('key='), error: document.getElementById('error').hidden ? null
                    : text('error')};
})()"""


def signed_in(tools: DevTools, server: str, key: str) -> str:
    """The dashboard after signing in with `key` in its form, as a person does."""
    tools.call("Page.navigate", url=f"{server}/api/dashboard")
    assert wait_until_loaded(tools) == "signin"
    tools.evaluate(f"document.getElementById('signin-key').value = {json.dumps(key)};"
                   "document.querySelector('form.signin button').click(); true")
    deadline = time.monotonic() + WAIT
    while (state := wait_until_loaded(tools)) == "signin" and time.monotonic() < deadline:
        time.sleep(0.1)
    return state


def test_the_dashboard_shows_the_numbers_the_api_returns(server: str, browser: DevTools) -> None:
    state = signed_in(browser, server, "key-viewer")
    page = browser.evaluate(READ_PAGE)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    (ARTIFACTS / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))
    api = httpx.get(f"{server}/api/metrics/flow", headers={"X-API-Key": "key-viewer"}).json()

    assert state == "1", page["error"]
    assert page["error"] is None
    assert page["total"] == api["total_orders"] > 0
    assert page["open"] == api["breaches"]["open"] > 0
    assert page["flagged"] == api["breaches"]["flagged"]
    assert page["quarantine"] == api["quarantine"]["open"] > 0
    assert page["bottleneck"] == api["bottleneck"]["status"]
    assert page["states"] == {s["status"]: {"count": s["count"], "breaching": s["breaching"], "flagged": s["flagged"]}
                              for s in api["states"]}
    assert page["days"] == {d["day"]: [d["created"], d["closed"]] for d in api["throughput"]}
    assert page["jobs"] == [j["job_id"] for j in api["jobs"]]
    assert page["quarantined"] == [q["id"] for q in api["quarantine"]["recent"]]
    assert page["overdue"] == [b["order_id"] for b in api["breaches"]["oldest"]]
    assert page["keyInUrl"] is False
    assert browser.problems() == []


def test_a_reload_keeps_the_sign_in_and_a_wrong_key_gets_the_form_again_never_raw_json(
        server: str, browser: DevTools) -> None:
    assert signed_in(browser, server, "key-viewer") == "1"
    browser.call("Page.reload")
    assert wait_until_loaded(browser) == "1"  # the tab's sign-in survives a reload: no 401 JSON

    browser.evaluate("window.sessionStorage.setItem('oms.apiKey', 'not-a-key'); true")
    browser.call("Page.reload")
    assert wait_until_loaded(browser) == "signin"
    body = str(browser.evaluate("document.body.innerText"))
    assert not body.lstrip().startswith("{") and "Sign in" in body
    assert browser.evaluate("window.sessionStorage.getItem('oms.apiKey')") is None
