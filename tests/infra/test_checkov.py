"""The Bicep in infra/ against checkov's security policies (keys off, TLS,
public access, identity), offline. The Bicep CLI cannot be installed here
(DESIGN.md section 8), so checkov's Bicep parser is also what proves the
files parse. Skipped policies are named and justified in infra/.checkov.yaml."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def _checkov() -> str:
    found = shutil.which("checkov", path=str(Path(sys.executable).parent)) or shutil.which("checkov")
    if found is None:
        pytest.skip("checkov is not installed (requirements-dev.txt)")
    return found


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    done = subprocess.run([_checkov(), "-d", "infra", "--framework", "bicep", "--skip-download", "-o", "json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    parsed = json.loads(done.stdout)
    return parsed[0] if isinstance(parsed, list) else dict(parsed)


@pytest.mark.slow
def test_checkov_finds_no_failed_policy_in_the_bicep(report: dict[str, Any]) -> None:
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
              for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0


@pytest.mark.slow
def test_checkov_read_every_bicep_module(report: dict[str, Any]) -> None:
    checked = {Path(c["file_path"]).name for c in report["results"]["passed_checks"]}
    checked |= {Path(c["file_path"]).name for c in report["results"].get("skipped_checks", [])}
    assert {"storage.bicep", "cosmos.bicep", "eventhubs.bicep", "api.bicep"} <= checked


@pytest.mark.slow
def test_the_keys_stay_off_in_every_data_service(report: dict[str, Any]) -> None:
    passed = {c["check_id"] for c in report["results"]["passed_checks"]}
    # Cosmos DB local auth off, TLS minimums, HTTPS only, private blob containers.
    assert {"CKV_AZURE_140", "CKV_AZURE_44", "CKV_AZURE_3", "CKV_AZURE_223", "CKV_AZURE_34", "CKV_AZURE_70"} <= passed


COSMOS_DESCRIPTION = ROOT / "common" / "adapters" / "cosmos" / "containers.json"


def test_infra_declares_the_containers_hubs_and_consumer_group_of_the_design() -> None:
    cosmos = (INFRA / "app" / "cosmos.bicep").read_text()
    # The containers come from the one description the Python code also creates them from.
    assert "loadJsonContent('../../common/adapters/cosmos/containers.json')" in cosmos
    described = {c["name"]: c["partitionKey"] for c in json.loads(COSMOS_DESCRIPTION.read_text())["containers"]}
    assert described == {"orders": "/project_id", "inventory": "/warehouse_id", "projects": "/project_id",
                         "catalog": "/sku", "jobs": "/job_id", "quarantine": "/id", "leases": "/id",
                         "incidents": "/pk"}  # docs/incidents.md, Storage
    assert "disableLocalAuth: true" in cosmos and "EnableServerless" in cosmos
    hubs = (INFRA / "app" / "eventhubs.bicep").read_text()
    assert "['engineering-events', 'warehouse-events', 'order-events']" in hubs and "name: 'oms'" in hubs
    assert "disableLocalAuth: true" in hubs
    assert "allowSharedKeyAccess: false" in (INFRA / "app" / "storage.bicep").read_text()
    api = (INFRA / "app" / "api.bicep").read_text()
    assert "runtime: { name: 'python', version: '3.11' }" in api and "FlexConsumption" in api


def test_the_store_containers_match_the_infra() -> None:
    from common.adapters.cosmos import CONTAINERS

    described = {c["name"]: c["partitionKey"] for c in json.loads(COSMOS_DESCRIPTION.read_text())["containers"]}
    assert dict(CONTAINERS) == described
