"""The local `func start` story (docs/local-functions.md) and the deploy
details around it, checked without Core Tools or Docker (neither can run here):

- both local settings files parse and name every `%SETTING%` and every
  `connection` the app's bindings use; the stand-ins file disables exactly the
  functions whose service has no stand-in (Event Hubs, the change feed);
- the Bicep takes its Cosmos containers from containers.json, has the
  `principalType` parameter and the poison-blob alert;
- `infra/local/post-blob-created.sh --dry-run` prints the Event Grid
  BlobCreated event the host's blob extension reads (`data.url`,
  `data.blobType`, `data.eTag`); with Azurite (scripts/test) it uploads and
  posts for real, to a stand-in webhook.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

from common.adapters.cosmos.client import parse_connection_string
from tests.emulators.settings import AZURITE_KEY, azurite_blob, azurite_connection_string, azurite_skip_reason
from tests.functions.test_function_app import bindings, indexed
from tests.infra.test_blob_triggers import _blob_triggers

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SCRIPT = INFRA / "local" / "post-blob-created.sh"
HTTP_FILE = INFRA / "local" / "blob-created.http"
SAMPLE = ROOT / "samples" / "stock-snapshot.parquet"
VARIANTS = {"docker": ROOT / "local.settings.sample.json", "standins": ROOT / "local.settings.standins.json"}
# Functions whose service has no stand-in without Docker.
NO_STANDIN_TRIGGERS = {"eventHubTrigger", "cosmosDBTrigger"}
NEW_SETTINGS = {
    "OMS_OUTBOX_REPUBLISH_SCHEDULE": "0 */5 * * * *",
    "OMS_OUTBOX_GRACE_MINUTES": "15",
    "OMS_MARKER_TTL_DAYS": "30",
    "OMS_OUTBOX_TTL_DAYS": "7",
    "OMS_JOB_TTL_DAYS": "90",
    "OMS_QUARANTINE_TTL_DAYS": "90",
    "OMS_INGEST_TIME_BUDGET_SECONDS": "480",
    "OMS_DEADLETTER_CONTAINER": "dead-letters",
}
SETTING_REFERENCE = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)%")


def values(variant: str) -> dict[str, str]:
    data = json.loads(VARIANTS[variant].read_text())
    assert data["IsEncrypted"] is False
    found: dict[str, str] = data["Values"]
    return found


def referenced_settings(binding: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for value in binding.values():
        if isinstance(value, str):
            found.update(SETTING_REFERENCE.findall(value))
    return found


def functions_by_trigger() -> dict[str, str]:
    """function name -> its trigger's binding type."""
    found = {}
    for function in indexed():
        (trigger,) = [b for b in bindings(function) if b["type"].endswith("Trigger")]
        found[str(function.get_function_name())] = str(trigger["type"])
    return found


def disabled(variant: str) -> set[str]:
    flags = {k: v for k, v in values(variant).items() if k.startswith("AzureWebJobs.") and k.endswith(".Disabled")}
    assert all(v == "true" for v in flags.values()), flags
    return {k.removeprefix("AzureWebJobs.").removesuffix(".Disabled") for k in flags}


# ------------------------------------------------------------------ settings files
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_settings_file_parses_with_string_values_for_python(variant: str) -> None:
    found = values(variant)
    assert all(isinstance(v, str) for v in found.values())
    assert found["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert found["AzureWebJobsFeatureFlags"] == "EnableWorkerIndexing"
    assert found["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    json.loads(found["OMS_API_KEYS"])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_setting_and_connection_a_binding_uses_is_in_the_settings(variant: str) -> None:
    found, off = values(variant), disabled(variant)
    for function in indexed():
        name = function.get_function_name()
        for binding in bindings(function):
            for setting in referenced_settings(binding):
                assert found.get(setting), f"{name}: %{setting}% is not set in {VARIANTS[variant].name}"
            connection = binding.get("connection")
            if not connection:
                continue
            assert connection in found or any(k.startswith(f"{connection}__") for k in found), (
                f"{name}: connection {connection} is missing from {VARIANTS[variant].name}")
            # Empty only where every function that uses it is disabled (then the host never resolves it).
            if name not in off:
                assert found.get(connection) or any(found[k] for k in found if k.startswith(f"{connection}__")), (
                    f"{name} is enabled but its connection {connection} is empty in {VARIANTS[variant].name}")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_settings_load_into_the_app_settings(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from common.config import Settings
    from common.service.bootstrap import build_publisher

    for key, value in values(variant).items():
        if key.isidentifier():
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.store == "cosmos" and settings.cosmos_database == "oms"
    assert settings.outbox_republish_schedule == values(variant)["OMS_OUTBOX_REPUBLISH_SCHEDULE"]
    assert settings.deadletter_container == "dead-letters" and settings.ingest_time_budget_seconds == 480
    if variant == "standins":
        from common.adapters.local_sink import LocalSinkPublisher

        assert isinstance(build_publisher(settings), LocalSinkPublisher)


def test_the_standins_variant_disables_exactly_the_event_hub_and_change_feed_functions() -> None:
    triggers = functions_by_trigger()
    expected = {name for name, kind in triggers.items() if kind in NO_STANDIN_TRIGGERS}
    assert expected >= {"engineering_events", "warehouse_events", "outbox_feed"}
    assert disabled("standins") == expected
    assert disabled("docker") == set()
    # Order events go to the local sink: no Event Hub connection, and a timer publishes the outbox.
    assert values("standins")["EVENTHUB_CONNECTION"] == ""
    assert "UseDevelopmentEmulator=true" in values("docker")["EVENTHUB_CONNECTION"]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_cosmos_connection_lets_the_host_accept_the_emulator_certificate(variant: str) -> None:
    connection = values(variant)["COSMOS_CONNECTION"]
    # The .NET SDK v3 of the host's Cosmos DB extension reads this key from the connection string.
    assert connection.endswith(";DisableServerCertificateValidation=True;")
    parsed = parse_connection_string(connection)  # the Python side ignores the extra key
    assert parsed.endpoint == "https://localhost:8081/" and parsed.key and parsed.is_local


def test_the_new_settings_are_set_locally_and_in_azure() -> None:
    api = (INFRA / "app" / "api.bicep").read_text()
    for variant in VARIANTS:
        found = values(variant)
        for key, default in NEW_SETTINGS.items():
            assert key in found, f"{key} missing from {VARIANTS[variant].name}"
            if variant == "docker":
                assert found[key] == default, key
    for key, default in NEW_SETTINGS.items():
        if key == "OMS_DEADLETTER_CONTAINER":
            assert f"{key}: deadLetterContainerName" in api
        else:
            assert f"{key}: '{default}'" in api, key
    main = (INFRA / "main.bicep").read_text()
    assert "var batchDeadLetterContainerName = 'dead-letters'" in main
    assert "deadLetterContainerName, batchDeadLetterContainerName])" in main  # a container of the storage account


# ------------------------------------------------------------------ Bicep
def test_the_bicep_takes_the_cosmos_containers_from_the_description_file() -> None:
    cosmos = (INFRA / "app" / "cosmos.bicep").read_text()
    match = re.search(r"loadJsonContent\('([^']+)'\)", cosmos)
    assert match is not None
    assert (INFRA / "app" / match.group(1)).resolve() == ROOT / "common" / "adapters" / "cosmos" / "containers.json"
    assert "[for c in containers:" in cosmos
    code = "\n".join(line.split("//", 1)[0] for line in cosmos.splitlines())
    described = json.loads((ROOT / "common" / "adapters" / "cosmos" / "containers.json").read_text())["containers"]
    for container in described:
        assert f"'{container['name']}'" not in code, f"container {container['name']} written into the Bicep"
        assert f"'{container['partitionKey']}'" not in code
    assert "indexingPolicy: {" not in code and "excludedPaths" not in code
    # Every optional key of the file reaches the resource.
    for key in ("defaultTtl", "indexingPolicy"):
        assert f"contains(c, '{key}') ? {{ {key}: c.{key} }}" in code
    assert "disableLocalAuth: true" in code and "EnableServerless" in code


def test_the_deployer_role_assignment_takes_its_principal_type_from_the_azd_environment() -> None:
    main = (INFRA / "main.bicep").read_text()
    assert "@allowed(['User', 'ServicePrincipal', 'Group'])\nparam principalType string = 'User'" in main
    assert "userPrincipalType: principalType" in main
    rbac = (INFRA / "app" / "rbac.bicep").read_text()
    assert "param userPrincipalType string = 'User'" in rbac
    assert "principalType: userPrincipalType" in rbac and "principalType: 'User'" not in rbac
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["principalType"] == {"value": "${AZURE_PRINCIPAL_TYPE=User}"}


def test_a_poisoned_blob_raises_an_alert_to_the_configured_email() -> None:
    alerts = (INFRA / "app" / "alerts.bicep").read_text()
    assert "Microsoft.Insights/scheduledQueryRules@" in alerts and "Microsoft.Insights/actionGroups@" in alerts
    query = re.search(r"query: '([^']+)'", alerts)
    assert query is not None and "webjobs-blobtrigger-poison" in query.group(1) and query.group(1).startswith("traces")
    assert "scopes: [ applicationInsightsId ]" in alerts and "actionGroups: [ actionGroup.id ]" in alerts
    assert "emailAddress: alertEmail" in alerts
    main = (INFRA / "main.bicep").read_text()
    assert "module alerts 'app/alerts.bicep'" in main and "alertEmail: alertEmail" in main
    assert "applicationInsightsId: monitoring.outputs.applicationInsightsId" in main
    assert "output applicationInsightsId string = insights.id" in (INFRA / "app" / "monitoring.bicep").read_text()
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["alertEmail"] == {"value": "${OMS_ALERT_EMAIL}"}


# ------------------------------------------------------------------ local emulators
def test_the_compose_emulator_has_room_for_every_container() -> None:
    compose = yaml.safe_load((INFRA / "local" / "docker-compose.yml").read_text())
    cosmos = compose["services"]["cosmos"]["environment"]
    described = json.loads((ROOT / "common" / "adapters" / "cosmos" / "containers.json").read_text())["containers"]
    # The emulator spends 5 partitions on each container with a partition key.
    assert int(cosmos["AZURE_COSMOS_EMULATOR_PARTITION_COUNT"]) >= 5 * len(described)
    assert "--queueHost" in compose["services"]["azurite"]["command"]
    hubs = json.loads((INFRA / "local" / "eventhubs-config.json").read_text())
    entities = hubs["UserConfig"]["NamespaceConfig"][0]["Entities"]
    assert {e["Name"] for e in entities} == {"engineering-events", "warehouse-events", "order-events"}
    assert all({"Name": "oms"} in e["ConsumerGroups"] for e in entities)


def test_the_standins_script_starts_the_queue_the_blob_triggers_need() -> None:
    script = (INFRA / "local" / "start-standins.sh").read_text()
    for service in ("blob", "queue", "table"):
        assert f'"$azurite/{service}/main.js"' in script
    assert "local.settings.standins.json" in script and "oms cosmos init" in script
    shell = shutil.which("bash")
    if shell:
        assert subprocess.run([shell, "-n", str(INFRA / "local" / "start-standins.sh")], check=False).returncode == 0


# ------------------------------------------------------------------ post-blob-created.sh
def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    shell = shutil.which("bash")
    if shell is None or shutil.which("curl") is None:
        pytest.skip("bash and curl are needed")
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", **(env or {})}
    return subprocess.run([shell, str(SCRIPT), *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=60, check=False)


def check_event(events: list[dict[str, Any]], container: str, blob: str, blob_base: str) -> dict[str, Any]:
    """The fields Event Grid sends for Microsoft.Storage.BlobCreated (Event Grid schema), with
    those the host's blob extension reads: data.url (container, blob), data.blobType, data.eTag."""
    (event,) = events
    assert set(event) == {"topic", "subject", "eventType", "id", "eventTime", "data", "dataVersion", "metadataVersion"}
    assert event["eventType"] == "Microsoft.Storage.BlobCreated"
    assert event["subject"] == f"/blobServices/default/containers/{container}/blobs/{blob}"
    assert event["topic"].endswith("/providers/Microsoft.Storage/storageAccounts/devstoreaccount1")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event["id"])
    datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
    assert event["metadataVersion"] == "1"
    data = event["data"]
    assert data["api"] == "PutBlob" and data["blobType"] == "BlockBlob"
    assert data["url"] == f"{blob_base}/{container}/{blob}"
    assert re.fullmatch(r'"0x[0-9A-F]+"', data["eTag"])  # with its quotes, as Event Grid sends it
    assert isinstance(data["contentLength"], int)
    return event


@pytest.mark.parametrize("container", ["project-master", "item-catalog", "stock-snapshots"])
def test_the_dry_run_prints_the_blob_created_event_for_the_containers_function(container: str) -> None:
    done = run_script("--dry-run", container, str(SAMPLE.relative_to(ROOT)))
    assert done.returncode == 0, done.stderr
    event = check_event(json.loads(done.stdout), container, SAMPLE.name, "http://127.0.0.1:10000/devstoreaccount1")
    assert event["data"]["contentLength"] == SAMPLE.stat().st_size
    function = _blob_triggers()[container]
    assert (f"http://localhost:7071/runtime/webhooks/blobs?functionName=Host.Functions.{function}"
            in done.stderr) and "aeg-event-type: Notification" in done.stderr


def test_the_dry_run_takes_a_blob_name_and_the_endpoints_from_the_environment() -> None:
    done = run_script("--dry-run", "project-master", str(SAMPLE), "2026/11/drop.parquet",
                      env={"AZURITE_BLOB_URL": "http://127.0.0.1:20000/devstoreaccount1/",
                           "FUNCTIONS_URL": "http://127.0.0.1:7072"})
    assert done.returncode == 0, done.stderr
    check_event(json.loads(done.stdout), "project-master", "2026/11/drop.parquet", "http://127.0.0.1:20000/devstoreaccount1")
    assert "http://127.0.0.1:7072/runtime/webhooks/blobs?functionName=Host.Functions.project_master_blob" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--dry-run", "other", "x.parquet"), "no blob-triggered function reads container 'other'"),
    (("--dry-run", "project-master", "nowhere.parquet"), "no file nowhere.parquet"),
    (("--dry-run", "project-master", "samples/stock-snapshot.parquet", "a b.parquet"), "blob name 'a b.parquet'"),
    (("project-master",), "usage:"),
])
def test_the_script_refuses_what_it_cannot_post(args: tuple[str, ...], message: str) -> None:
    done = run_script(*args)
    assert done.returncode != 0 and message in done.stderr and done.stdout == ""


def script_sas() -> str:
    match = re.search(r"^sas='([^']+)'$", SCRIPT.read_text(), re.MULTILINE)
    assert match is not None
    return match.group(1)


def test_the_upload_sas_is_signed_with_the_development_account_key() -> None:
    """Recomputes the account SAS (string-to-sign of versions 2020-12-06 and later)
    from Azurite's well-known key: the script needs no openssl to sign."""
    fields = {k: v[0] for k, v in parse_qs(script_sas(), keep_blank_values=True).items()}
    assert (fields["ss"], fields["srt"], fields["sp"], fields["sv"]) == ("b", "co", "rwlac", "2021-08-06")
    assert fields["se"] >= "2099"
    to_sign = "\n".join(["devstoreaccount1", fields["sp"], fields["ss"], fields["srt"], fields["st"], fields["se"],
                         "", fields["spr"], fields["sv"], "", ""])
    expected = base64.b64encode(hmac.new(base64.b64decode(AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest())
    assert fields["sig"] == expected.decode()
    http_file = HTTP_FILE.read_text()
    assert f"@sas = {script_sas()}" in http_file


def test_the_http_file_posts_the_same_event() -> None:
    text = HTTP_FILE.read_text()
    variables = dict(re.findall(r"^@(\w+) = (.+)$", text, re.MULTILINE))
    assert variables["functions"] == "http://localhost:7071"
    assert _blob_triggers()[variables["container"]] == variables["function"]
    post = text[text.index("POST {{functions}}/runtime/webhooks/blobs?functionName=Host.Functions.{{function}}"):]
    headers, body = post.split("\n\n", 1)
    assert "aeg-event-type: Notification" in headers and "Content-Type: application/json" in headers
    for name, value in variables.items():
        body = body.replace("{{" + name + "}}", value)
    check_event(json.loads(body), variables["container"], variables["blob"], variables["blobs"])
    assert "< ../../samples/" in text and (HTTP_FILE.parent / "../../samples" / variables["blob"]).is_file()


# ------------------------------------------------------------------ with Azurite
class Webhook:
    """Records what is posted to it, answering 202 as the host's blob extension does."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                requests.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.mark.emulator
def test_the_script_uploads_to_azurite_and_posts_the_blobs_event(webhook: Webhook, tmp_path: Path) -> None:
    if reason := azurite_skip_reason():
        pytest.skip(reason)
    from azure.storage.blob import BlobServiceClient

    base = str(azurite_blob()).rstrip("/")
    drop = tmp_path / f"drop-{tmp_path.name}.parquet"
    drop.write_bytes(SAMPLE.read_bytes())
    env = {"AZURITE_BLOB_URL": base, "FUNCTIONS_URL": webhook.url}
    done = run_script("item-catalog", str(drop), env=env)
    assert done.returncode == 0, done.stderr

    blob = BlobServiceClient.from_connection_string(azurite_connection_string()).get_blob_client(
        "item-catalog", drop.name)
    assert blob.download_blob().readall() == drop.read_bytes()
    ((path, headers, events),) = webhook.requests
    url = urlsplit(path)
    assert url.path == "/runtime/webhooks/blobs"
    assert parse_qs(url.query) == {"functionName": ["Host.Functions.item_catalog_blob"]}
    assert headers["aeg-event-type"] == "Notification" and headers["Content-Type"] == "application/json"
    event = check_event(events, "item-catalog", drop.name, base)
    assert event["data"]["eTag"] == blob.get_blob_properties().etag  # the blob's own ETag, quoted
    assert event["data"]["contentLength"] == drop.stat().st_size

    # The blob is there: --skip-upload posts its event again from what Azurite says of it.
    again = run_script("--skip-upload", "item-catalog", f"elsewhere/{drop.name}", env=env)
    assert again.returncode == 0, again.stderr
    assert webhook.requests[1][2][0]["data"]["eTag"] == event["data"]["eTag"]
    assert unquote(webhook.requests[1][2][0]["data"]["url"]) == event["data"]["url"]


@pytest.mark.emulator
def test_the_script_says_when_the_host_is_not_running(tmp_path: Path) -> None:
    if reason := azurite_skip_reason():
        pytest.skip(reason)
    done = run_script("stock-snapshots", str(SAMPLE), f"host-down-{tmp_path.name}.parquet",
                      env={"AZURITE_BLOB_URL": str(azurite_blob()), "FUNCTIONS_URL": "http://127.0.0.1:9"})
    assert done.returncode == 1
    assert "is 'func start' running?" in done.stderr
