"""The function app in the real Azure Functions Python worker.

`../shared/tools/functions-worker` holds the worker (4.34.0) as a harness.
Once per session: a deployable copy of the project (what `git ls-files -co
--exclude-standard` lists, minus the `.funcignore` patterns: exactly what
`check` copies), and one subprocess (`host.py`) that indexes and loads that
copy in the worker and then serves invocations. Each test gets its own
embedded store: the `worker` fixture points the subprocess's settings at the
test's `tmp_path` (the same files as the `deps` fixture seeds and reads).

Without the harness every test here skips, naming the reason.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.adapters.clock import FixedClock
from common.config import Settings
from tests.api.conftest import KEYS

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Beside the clone (../shared) as on the project's machines; OMS_FUNCTIONS_WORKER
# names it when the clone lives elsewhere (a CI checkout, /tmp/x).
WORKER_DIR = Path(os.environ.get("OMS_FUNCTIONS_WORKER") or REPO.parent / "shared" / "tools" / "functions-worker")
HOST = HERE / "host.py"
MISSING = (None if (WORKER_DIR / "harness.py").is_file()
           else f"the Azure Functions worker harness is absent: {WORKER_DIR} not found (OMS_FUNCTIONS_WORKER names it)")



def binding_settings() -> dict[str, str]:
    """The settings the bindings name as %SETTING% (the timers' schedules, the
    Cosmos database), with local.settings.sample.json's values: every
    `*_SCHEDULE` there and COSMOS_DATABASE. test_indexing checks that the
    indexed bindings reference no other."""
    values = {"OMS_ALLOCATION_SCHEDULE": "0 */15 * * * *", "OMS_SLA_SCHEDULE": "0 0 * * * *", "COSMOS_DATABASE": "oms"}
    sample = REPO / "local.settings.sample.json"
    if sample.is_file():
        found = json.loads(sample.read_text()).get("Values", {})
        values.update({k: str(v) for k, v in found.items() if k.endswith("_SCHEDULE") or k == "COSMOS_DATABASE"})
    return values


SCHEDULES = binding_settings()
# Left to the host (FUNCTIONS_*, PYTHON_*), or naming a connection the tests must not use.
STRIPPED = ("OMS_", "EVENTHUB_CONNECTION", "AzureWebJobsStorage", "COSMOS_", "APPLICATIONINSIGHTS_", "FUNCTIONS_",
            "PYTHON_", "AzureWebJobs", "WEBSITE_")
START_TIMEOUT = 120.0
CALL_TIMEOUT = 60.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "invokes(*functions): the functions a test invokes through the worker")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MISSING is None:
        return
    skip = pytest.mark.skip(reason=MISSING)
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(skip)


def worker_environment(sqlite_path: Path | str, data_dir: Path | str, app_dir: Path) -> dict[str, str]:
    """The process environment of the worker: this machine's, less any OMS,
    connection or Functions setting, plus the app's test settings. No
    EVENTHUB_CONNECTION (order events go to the local sink), no
    AzureWebJobsStorage (blobs are folders under OMS_DATA_DIR)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED) and k != "PYTHONPATH"}
    env.update({
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "AzureWebJobsFeatureFlags": "EnableWorkerIndexing",
        "AzureWebJobsScriptRoot": str(app_dir),
        "OMS_STORE": "sqlite",
        "OMS_SQLITE_PATH": str(sqlite_path),
        "OMS_DATA_DIR": str(data_dir),
        "OMS_API_KEYS": json.dumps(KEYS),
        "OMS_LOG_FORMAT": "text",
        **SCHEDULES,
    })
    return env


def deployable_copy(project: Path, target: Path) -> Path:
    """What a deployment ships, as `check` builds it: the files git tracks plus
    the untracked ones it does not ignore, then each `.funcignore` pattern
    removed (a shell glob at the top of the copy, trailing slash dropped)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=project, capture_output=True,
                            text=True, check=False)
    if listed.returncode != 0:
        pytest.fail(f"cannot list the project's files with git in {project}: {listed.stderr.strip()}")
    for name in listed.stdout.splitlines():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(project / name, destination)
        except OSError:  # listed but gone meanwhile (check's `cp -p ... || true`)
            continue
    ignore = project / ".funcignore"
    if ignore.is_file():
        for line in ignore.read_text().splitlines():
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            pattern = pattern.removesuffix("/")
            for word in pattern.split():
                for match in glob.glob(word, root_dir=target) or [word]:
                    path = target / match
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    elif path.exists() or path.is_symlink():
                        path.unlink()
    return target


@dataclass
class Invocation:
    """One InvocationResponse, as host.py answers it."""

    function: str
    status: str
    exception: dict[str, str] | None
    return_value: dict[str, Any] | None
    output_data: list[dict[str, Any]]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "Success"

    def explain(self) -> str:
        if self.exception:
            return f"{self.function}: {self.status}: {self.exception['message']}\n{self.exception['stack_trace']}"
        return f"{self.function}: {self.status}"


class WorkerHost:
    """The host.py subprocess: one request line out, one answer line back."""

    def __init__(self, process: subprocess.Popen[str], log_path: Path, app_dir: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.app_dir = app_dir
        self.invoked: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready = self._next(START_TIMEOUT, "indexing and loading the app")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"

    def _next(self, timeout: float, doing: str) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"the worker did not answer within {timeout:.0f} s while {doing}; its log:\n{self.log_tail()}")
        if line is None:
            code = self.process.wait(timeout=10)
            pytest.fail(f"the worker exited ({code}) while {doing}; its log:\n{self.log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def request(self, message: dict[str, Any], doing: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        message = {"id": next(self._ids), **message}
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except OSError as error:
            pytest.fail(f"the worker is gone ({error}) before {doing}; its log:\n{self.log_tail()}")
        answer = self._next(CALL_TIMEOUT, doing)
        assert answer.get("id") == message["id"], f"answer out of order: {answer}"
        return answer

    def environ(self, values: dict[str, str]) -> None:
        answer = self.request({"op": "environ", "set": values}, "changing its settings")
        assert answer.get("ok"), answer

    def invoke(self, function: str, inputs: dict[str, Any], trigger_metadata: dict[str, Any]) -> Invocation:
        answer = self.request({"op": "invoke", "function": function, "inputs": inputs,
                               "trigger_metadata": trigger_metadata}, f"invoking {function}")
        self.invoked[function] = self.invoked.get(function, 0) + 1
        return Invocation(function=function, status=answer["status"], exception=answer.get("exception"),
                          return_value=answer.get("return_value"), output_data=answer.get("output_data", []),
                          seconds=answer.get("seconds", 0.0))

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=15)


@dataclass
class WorkerClient:
    """The session's worker, for one test (on the test's store)."""

    host: WorkerHost
    invoked: set[str] = field(default_factory=set)

    @property
    def functions(self) -> dict[str, Any]:
        functions: dict[str, Any] = self.host.ready["functions"]
        return functions

    def invoke(self, function: str, call: tuple[dict[str, Any], dict[str, Any]]) -> Invocation:
        """Invoke `function` with (inputs, trigger metadata) from tests/worker/payloads.py."""
        inputs, metadata = call
        self.invoked.add(function)
        return self.host.invoke(function, inputs, metadata)

    def succeed(self, function: str, call: tuple[dict[str, Any], dict[str, Any]]) -> Invocation:
        """Invoke, and fail the test with the worker's exception unless it succeeded."""
        result = self.invoke(function, call)
        assert result.ok, f"{result.explain()}\nworker log:\n{self.host.log_tail(30)}"
        return result


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def deployable_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if MISSING:
        pytest.skip(MISSING)
    return deployable_copy(REPO, tmp_path_factory.mktemp("deployable-app"))


@pytest.fixture(scope="session")
def worker_host(deployable_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerHost]:
    home = tmp_path_factory.mktemp("worker-host")
    log_path = home / "worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-P", str(HOST), "--worker", str(WORKER_DIR), str(deployable_app)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
            cwd=deployable_app, env=worker_environment(home / "oms.db", home / "data", deployable_app))
    host = WorkerHost(process, log_path, deployable_app)
    try:
        yield host
    finally:
        host.close()


@pytest.fixture(scope="session")
def defined_functions(deployable_app: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """What `function_app.app.get_functions()` returns for the deployable copy
    (a process of its own: an app object indexes once)."""
    home = tmp_path_factory.mktemp("list-functions")
    listed = subprocess.run([sys.executable, "-P", str(HOST), "--list-functions", str(deployable_app)],
                            capture_output=True, text=True, cwd=deployable_app, timeout=120,
                            env=worker_environment(home / "oms.db", home / "data", deployable_app))
    assert listed.returncode == 0, f"function_app did not index:\n{listed.stderr[-4000:]}"
    names: list[str] = json.loads(listed.stdout.splitlines()[-1])["functions"]
    return names


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The test's embedded store: the `deps` fixture seeds it, the worker writes it."""
    return Settings(OMS_STORE="sqlite", OMS_SQLITE_PATH=str(tmp_path / "oms.db"),  # type: ignore[call-arg]
                    OMS_DATA_DIR=str(tmp_path / "data"), OMS_API_KEYS=json.dumps(KEYS))


@pytest.fixture
def clock() -> FixedClock:
    """Seeded data is ten days old to the worker's real clock (so Draft orders
    are past their SLA age, whatever the date the suite runs on)."""
    return FixedClock(at=(datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0))


@pytest.fixture
def worker(worker_host: WorkerHost, settings: Settings, request: pytest.FixtureRequest) -> Iterator[WorkerClient]:
    if not worker_host.ready["ready"]:
        pytest.fail(f"the app did not index in the worker: {worker_host.ready['error']}\n{worker_host.log_tail()}")
    worker_host.environ({"OMS_SQLITE_PATH": settings.sqlite_path, "OMS_DATA_DIR": settings.data_dir})
    client = WorkerClient(worker_host)
    yield client
    declared = {name for mark in request.node.iter_markers("invokes") for name in mark.args}
    if missing := declared - client.invoked:
        pytest.fail(f"{request.node.name} is marked as invoking {sorted(missing)} through the worker but did not")
