"""The deployable copy comes up in the real worker: every function the app
defines is indexed and loaded, and every one has a test in tests/worker that
invokes it through the worker."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from tests.worker.conftest import HERE, SCHEDULES, WorkerHost


def test_the_deployable_copy_indexes_and_loads_every_function_in_the_worker(
        worker_host: WorkerHost, defined_functions: list[str]) -> None:
    ready = worker_host.ready
    assert ready["ready"], f"the worker could not index the app: {ready['error']}\n{worker_host.log_tail()}"
    assert ready["load_errors"] == {}, f"functions that failed to load: {ready['load_errors']}"
    indexed = set(ready["functions"])
    defined = set(defined_functions)
    assert len(defined_functions) == len(defined), f"function names defined twice: {defined_functions}"
    assert indexed == defined, (
        f"the worker indexed {sorted(indexed)} but function_app.app defines {sorted(defined)}: "
        f"missing in the worker {sorted(defined - indexed)}, unexpected {sorted(indexed - defined)}")


def test_the_worker_loads_the_deployable_copy_and_not_the_repository(worker_host: WorkerHost) -> None:
    app_dir = Path(worker_host.ready["app_dir"])
    for module, origin in worker_host.ready["modules"].items():
        assert origin is not None, f"{module} was not imported by indexing"
        assert app_dir in Path(origin).resolve().parents, f"{module} came from {origin}, not from {app_dir}"
    assert (app_dir / "function_app.py").is_file() and (app_dir / "host.json").is_file()
    for ignored in ("tests", "infra", "docs", "samples", ".git", ".venv"):
        assert not (app_dir / ignored).exists(), f"{ignored} is in the deployable copy despite .funcignore"


def test_every_setting_a_binding_references_is_in_the_worker_environment(worker_host: WorkerHost) -> None:
    referenced = {
        name
        for function in worker_host.ready["functions"].values()
        for binding in function["bindings"]
        for value in binding.values() if isinstance(value, str)
        for name in re.findall(r"%([^%]+)%", value)
    }
    assert referenced <= set(SCHEDULES), (
        f"bindings reference {sorted(referenced - set(SCHEDULES))}, which the worker's environment lacks: "
        "add them to local.settings.sample.json (as *_SCHEDULE) or to binding_settings() in tests/worker/conftest.py")


def test_the_worker_reports_the_retry_policy_of_the_event_driven_functions(worker_host: WorkerHost) -> None:
    retries = {name: f["retry"] for name, f in worker_host.ready["functions"].items() if f["retry"]}
    for name in ("engineering_events", "warehouse_events", "outbox_feed"):
        assert name in retries, f"{name} has no retry policy in the worker's metadata"
        assert retries[name]["retry_strategy"] == "exponential_backoff"
        assert int(retries[name]["max_retry_count"]) >= 3


def declared_invocations() -> dict[str, list[str]]:
    """function -> the tests in tests/worker marked `invokes(function)` (the
    marker the `worker` fixture holds each test to)."""
    found: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        module = importlib.import_module(f"tests.worker.{path.stem}")
        for attribute, value in vars(module).items():
            if not attribute.startswith("test_") or not callable(value):
                continue
            marks: list[Any] = getattr(value, "pytestmark", [])
            for mark in marks:
                if mark.name == "invokes":
                    for function in mark.args:
                        found.setdefault(function, []).append(f"{path.name}::{attribute}")
    return found


def test_every_function_the_worker_indexes_is_invoked_by_a_test_through_the_worker(worker_host: WorkerHost) -> None:
    declared = declared_invocations()
    uncovered = sorted(set(worker_host.ready["functions"]) - set(declared))
    assert not uncovered, (
        f"functions with no test invoking them through the worker: {uncovered}; add one to tests/worker, "
        "marked @pytest.mark.invokes(<function name>)")
    stale = sorted(set(declared) - set(worker_host.ready["functions"]))
    assert not stale, f"tests invoke functions the worker does not index: {stale} ({declared})"
