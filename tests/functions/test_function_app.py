"""The function app indexes the way the Functions host indexes it, and every
binding's connection setting is configured for local runs."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func

ROOT = Path(__file__).resolve().parents[2]


@cache
def indexed() -> tuple[func.Function, ...]:
    """`get_functions()` once per app object: a second call raises on the
    names the first call registered."""
    import function_app

    return tuple(function_app.app.get_functions())


def bindings(function: func.Function) -> list[dict[str, Any]]:
    return list(json.loads(function.get_function_json())["bindings"])


def sample_values() -> dict[str, str]:
    return dict(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"])


def test_the_app_indexes_with_unique_function_names() -> None:
    names = [f.get_function_name() for f in indexed()]
    assert names
    assert len(names) == len(set(names))
    assert "engineering_events" in names


def test_every_function_has_exactly_one_trigger() -> None:
    for function in indexed():
        triggers = [b for b in bindings(function) if b["type"].endswith("Trigger")]
        assert len(triggers) == 1, function.get_function_name()


def test_every_binding_connection_is_a_local_setting() -> None:
    values = sample_values()
    for function in indexed():
        for binding in bindings(function):
            connection = binding.get("connection")
            if connection:
                assert connection in values or any(k.startswith(f"{connection}__") for k in values), (
                    f"{function.get_function_name()}: {connection} missing from local.settings.sample.json")


def test_the_engineering_trigger_reads_batches_from_its_hub() -> None:
    (function,) = [f for f in indexed() if f.get_function_name() == "engineering_events"]
    (trigger,) = bindings(function)
    assert (trigger["type"], trigger["eventHubName"], trigger["connection"], trigger["cardinality"]) == (
        "eventHubTrigger", "engineering-events", "EVENTHUB_CONNECTION", "MANY")


def test_host_json_uses_the_extension_bundle_and_the_sample_settings_run_python() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert host["extensionBundle"]["version"].startswith("[4.")
    values = sample_values()
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert "AzureWebJobsStorage" in values


def test_event_hub_triggers_retry_with_exponential_backoff() -> None:
    # The trigger checkpoints even when a run fails: only a retry policy gives a
    # store that stays down a second chance before the batch is quarantined.
    hubs = [f for f in indexed() if any(b["type"] == "eventHubTrigger" for b in bindings(f))]
    assert {f.get_function_name() for f in hubs} == {"engineering_events", "warehouse_events"}
    for function in hubs:
        policy = function.get_settings_dict("retry_policy")
        assert policy is not None, function.get_function_name()
        assert policy["strategy"] == "exponential_backoff" and int(policy["max_retry_count"]) >= 3


def test_the_http_function_is_anonymous_at_the_host_so_browser_pages_load() -> None:
    # Function keys would answer 401 to the dashboard's assets and fetches and
    # to the API docs; the app authenticates every caller itself.
    (function,) = [f for f in indexed() if f.get_function_name() == "http_app_func"]
    (trigger,) = [b for b in bindings(function) if b["type"] == "httpTrigger"]
    assert trigger["authLevel"] == "ANONYMOUS"


def test_a_failing_blob_is_retried_often_enough_for_a_resumed_first_load() -> None:
    # Event-based blob triggers retry through the host's queue: a first load
    # that stops at its time budget resumes on the next attempt, and each
    # attempt takes one dequeue; a pause between attempts lets a short store
    # outage pass before the blob is poisoned.
    host = json.loads((ROOT / "host.json").read_text())
    queues = host["extensions"]["queues"]
    assert queues["maxDequeueCount"] >= 10
    assert queues["visibilityTimeout"] >= "00:00:30"
    assert int(sample_values().get("OMS_INGEST_TIME_BUDGET_SECONDS", "480")) * queues["maxDequeueCount"] >= 3600
