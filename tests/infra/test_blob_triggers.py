"""The event-based Blob triggers are wired in Azure: every blob-triggered
function has a container in the storage account and an Event Grid subscription
to its own webhook, and the azd postdeploy hook deploys those subscriptions only
once the app's `blobs_extension` key exists. The hook is run under `sh` (dash
here, as azd does on Linux) against a recording stand-in for the Azure CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import azure.functions as func
import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
HOOK = INFRA / "hooks" / "postdeploy.sh"

SETTINGS = {
    "AZURE_RESOURCE_GROUP": "rg-test",
    "AZURE_FUNCTION_NAME": "func-oms-test",
    # Nothing listens on the discard port: the hook's wake-up request fails fast, as it may.
    "AZURE_FUNCTION_URI": "http://127.0.0.1:9",
    "AZURE_STORAGE_ACCOUNT_NAME": "sttest",
    "EVENTGRID_SYSTEM_TOPIC_NAME": "evgt-test",
    "EVENTGRID_DEADLETTER_CONTAINER": "eventgrid-deadletter",
}

# Stands in for `az`: logs each call; `keys list` answers "false" until the
# call count in KEY_AFTER, `deployment group create` fails DEPLOY_FAILS times.
FAKE_AZ = """#!/bin/sh
echo "$*" >> "$AZ_LOG"
case "$1 $2" in
  "functionapp keys")
    n=$(grep -c '^functionapp keys' "$AZ_LOG")
    if [ "$n" -ge "$KEY_AFTER" ]; then echo true; else echo false; fi ;;
  "deployment group")
    n=$(grep -c '^deployment group' "$AZ_LOG")
    [ "$n" -gt "$DEPLOY_FAILS" ] || { echo "webhook validation handshake failed" >&2; exit 1; } ;;
esac
"""


def _blob_triggers() -> dict[str, str]:
    from functions import master_data

    app = func.FunctionApp()
    app.register_functions(master_data.bp)
    found: dict[str, str] = {}
    for function in app.get_functions():
        for binding in function.get_bindings():
            if binding.type == "blobTrigger":
                assert getattr(binding, "source", None) == "EventGrid", function.get_function_name()
                found[str(getattr(binding, "path", "")).split("/", 1)[0]] = str(function.get_function_name())
    return found


def test_every_blob_trigger_has_a_subscription_to_its_own_function() -> None:
    subscriptions = (INFRA / "hooks" / "blob-subscriptions.bicep").read_text()
    declared = dict(re.findall(r"\{ container: '([^']+)', function: '([^']+)' \}", subscriptions))
    assert declared == _blob_triggers() == {"project-master": "project_master_blob",
                                            "item-catalog": "item_catalog_blob",
                                            "stock-snapshots": "stock_snapshots_blob",
                                            "reorder-policy": "reorder_policy_blob"}
    assert "functionName=Host.Functions.${trigger.function}" in subscriptions
    assert "systemKeys.blobs_extension" in subscriptions
    assert "includedEventTypes: ['Microsoft.Storage.BlobCreated']" in subscriptions
    assert "subjectBeginsWith: '/blobServices/default/containers/${trigger.container}/'" in subscriptions


def test_the_storage_account_has_the_trigger_containers_and_the_system_topic() -> None:
    main = (INFRA / "main.bicep").read_text()
    listed = re.search(r"var blobTriggerContainers = \[([^\]]*)\]", main)
    assert listed is not None
    assert set(re.findall(r"'([^']+)'", listed.group(1))) == set(_blob_triggers())
    storage = main.split("module storage ", 1)[1].split("\n}\n", 1)[0]
    assert "blobTriggerContainers" in storage and "deadLetterContainerName" in storage
    topic = (INFRA / "app" / "eventgrid.bicep").read_text()
    assert "topicType: 'Microsoft.Storage.StorageAccounts'" in topic
    assert "identity: { type: 'SystemAssigned' }" in topic
    for output in ("AZURE_STORAGE_ACCOUNT_NAME", "EVENTGRID_SYSTEM_TOPIC_NAME", "EVENTGRID_DEADLETTER_CONTAINER"):
        assert f"output {output} string" in main


def test_azure_yaml_runs_the_hook_after_the_deployment_on_every_platform() -> None:
    azure_yaml = (ROOT / "azure.yaml").read_text()
    hooks = azure_yaml.split("hooks:", 1)[1].split("services:", 1)[0]
    assert "postdeploy:" in hooks
    assert "run: ./infra/hooks/postdeploy.sh" in hooks and "run: ./infra/hooks/postdeploy.ps1" in hooks
    assert "shell: sh" in hooks and "shell: pwsh" in hooks
    assert HOOK.is_file() and (INFRA / "hooks" / "postdeploy.ps1").is_file()


def _run_hook(tmp_path: Path, *, key_after: int = 1, deploy_fails: int = 0, attempts: int = 5,
              settings: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    shell = shutil.which("dash") or shutil.which("sh")
    if shell is None:
        pytest.skip("no POSIX sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ)
    az.chmod(0o755)
    log = tmp_path / "az.log"
    log.touch()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AZ_LOG": str(log), "KEY_AFTER": str(key_after),
           "DEPLOY_FAILS": str(deploy_fails), "BLOBS_KEY_ATTEMPTS": str(attempts), "BLOBS_KEY_PAUSE_SECONDS": "0",
           **(SETTINGS if settings is None else settings)}
    done = subprocess.run([shell, str(HOOK)], env=env, capture_output=True, text=True, timeout=120, check=False)
    return done, log.read_text().splitlines()


def test_postdeploy_waits_for_the_blobs_key_then_deploys_the_subscriptions(tmp_path: Path) -> None:
    done, calls = _run_hook(tmp_path, key_after=3)
    assert done.returncode == 0, done.stderr
    assert [c.split()[:3] for c in calls] == [["functionapp", "keys", "list"]] * 3 + [["deployment", "group", "create"]]
    deploy = calls[-1]
    assert f"--template-file {INFRA / 'hooks' / 'blob-subscriptions.bicep'}" in deploy
    for parameter in ("functionAppName=func-oms-test", "systemTopicName=evgt-test", "storageAccountName=sttest",
                      "deadLetterContainerName=eventgrid-deadletter", "--resource-group rg-test"):
        assert parameter in deploy
    # The key is checked for, never read into the shell: ARM resolves it in the template.
    assert all("systemKeys.blobs_extension != null" in c for c in calls[:3])


def test_postdeploy_retries_a_failed_webhook_validation(tmp_path: Path) -> None:
    done, calls = _run_hook(tmp_path, deploy_fails=1)
    assert done.returncode == 0, done.stderr
    assert sum(c.startswith("deployment group create") for c in calls) == 2


def test_postdeploy_fails_clearly_when_the_key_never_appears(tmp_path: Path) -> None:
    done, calls = _run_hook(tmp_path, key_after=99, attempts=2)
    assert done.returncode == 1
    assert "no 'blobs_extension' key on func-oms-test after 2 checks" in done.stderr
    assert not any(c.startswith("deployment") for c in calls)


def test_postdeploy_names_the_missing_setting(tmp_path: Path) -> None:
    settings = {k: v for k, v in SETTINGS.items() if k != "EVENTGRID_SYSTEM_TOPIC_NAME"}
    done, calls = _run_hook(tmp_path, settings=settings)
    assert done.returncode == 1
    assert "EVENTGRID_SYSTEM_TOPIC_NAME is not set" in done.stderr
    assert calls == []
