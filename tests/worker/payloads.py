"""What the Functions host sends the worker, per trigger, as TypedData in the
proto3 JSON mapping (the form tests/worker/host.py takes), and what the
worker's answers hold.

Shapes (worker 4.34 declares the TypedDataCollection, RawHttpBodyBytes,
RpcHttpBodyOnly and RpcHttpTriggerMetadataRemoved capabilities, so the host
sends batches as collections, HTTP bodies as bytes, and no HTTP trigger
metadata; `json` arrays are what older hosts and IoT Hub send):

- Event Hub, cardinality many: the bodies as `json` (a JSON array of the body
  values) or `collection_bytes`; trigger metadata `SystemPropertiesArray` (one
  object per event: EnqueuedTimeUtc, SequenceNumber, Offset, PartitionKey and
  the x-opt-* annotations), the per-field arrays and `PartitionContext`.
- Timer: `json` of {"Schedule", "ScheduleStatus", "IsPastDue"}.
- Blob (also with `source=EventGrid`: the extension turns the BlobCreated
  event into the same binding data): `bytes` of the content; metadata
  `BlobTrigger` (container/name), `Uri`, `Properties` (JSON with `Length`),
  `Metadata` and the path pattern's `{name}`.
- Cosmos DB change feed: `json` of an array of documents.
- HTTP: `http` (RpcHttp: method, url, headers, query, params with the route,
  body as bytes).
Every trigger also gets the `sys` binding data (MethodName, UtcNow, RandGuid).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Typed = dict[str, Any]
HOST_URL = "http://localhost:7071"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def json_data(value: Any) -> Typed:
    return {"json": json.dumps(value)}


def string_data(value: str) -> Typed:
    return {"string": value}


def bytes_data(value: bytes) -> Typed:
    return {"bytes": b64(value)}


def collection_bytes(values: Sequence[bytes]) -> Typed:
    return {"collection_bytes": {"bytes": [b64(v) for v in values]}}


def _dotnet_time(at: datetime) -> str:
    """A UTC time as .NET writes it (seven fractional digits, `Z`)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def sys_metadata(function: str) -> Typed:
    return json_data({"MethodName": function, "UtcNow": _dotnet_time(datetime.now(UTC)),
                      "RandGuid": str(uuid.uuid4())})


def body_bytes(value: Any) -> bytes:
    """An Event Hub body: raw bytes as they are, anything else as its JSON."""
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def event_hub_batch(function: str, hub: str, bodies: Sequence[Any], *, form: str, partition_key: str,
                    first_sequence: int = 1000, partition_id: str = "0",
                    arg_name: str = "events") -> tuple[dict[str, Typed], dict[str, Typed]]:
    """(inputs, trigger metadata) of one cardinality-many batch.

    `form="collection_bytes"`: each body's bytes. `form="json"`: a JSON array of
    the bodies' values (a body must then be a JSON value: the array cannot carry
    bytes that are not JSON)."""
    if form == "collection_bytes":
        data = collection_bytes([body_bytes(b) for b in bodies])
    elif form == "json":
        if any(isinstance(b, bytes) for b in bodies):
            raise ValueError("a json batch holds JSON values; send raw bytes as collection_bytes")
        data = json_data(list(bodies))
    else:
        raise ValueError(f"unknown batch form {form!r}")
    enqueued = datetime.now(UTC) - timedelta(seconds=5)
    props: list[dict[str, Any]] = []
    offset = 4_294_967_296
    for i, body in enumerate(bodies):
        at = _dotnet_time(enqueued + timedelta(milliseconds=10 * i))
        seq = first_sequence + i
        props.append({"x-opt-sequence-number": seq, "x-opt-offset": str(offset), "x-opt-enqueued-time": at,
                      "x-opt-partition-key": partition_key, "SequenceNumber": seq, "Offset": str(offset),
                      "PartitionKey": partition_key, "EnqueuedTimeUtc": at})
        offset += len(body_bytes(body)) + 32
    metadata = {
        "SystemPropertiesArray": json_data(props),
        "PartitionContext": json_data({"EventHubName": hub, "ConsumerGroup": "oms", "PartitionId": partition_id,
                                       "FullyQualifiedNamespace": "oms-events.servicebus.windows.net"}),
        "PartitionKeyArray": json_data([p["PartitionKey"] for p in props]),
        "OffsetArray": json_data([p["Offset"] for p in props]),
        "SequenceNumberArray": json_data([p["SequenceNumber"] for p in props]),
        "EnqueuedTimeUtcArray": json_data([p["EnqueuedTimeUtc"] for p in props]),
        "PropertiesArray": json_data([{} for _ in props]),
        "sys": sys_metadata(function),
    }
    return {arg_name: data}, metadata


def timer(function: str, *, past_due: bool = False, arg_name: str = "timer") -> tuple[dict[str, Typed],
                                                                                     dict[str, Typed]]:
    now = datetime.now(UTC)
    payload = {"Schedule": {"AdjustForDST": True},
               "ScheduleStatus": {"Last": _dotnet_time(now - timedelta(minutes=15)),
                                  "Next": _dotnet_time(now + timedelta(minutes=15)),
                                  "LastUpdated": _dotnet_time(now - timedelta(minutes=15))},
               "IsPastDue": past_due}
    return {arg_name: json_data(payload)}, {"sys": sys_metadata(function)}


def blob(function: str, container: str, name: str, content: bytes, *,
         arg_name: str = "blob") -> tuple[dict[str, Typed], dict[str, Typed]]:
    uri = f"https://omsstorage.blob.core.windows.net/{container}/{name}"
    properties = {"Length": len(content), "ContentLength": len(content), "ContentType": "application/octet-stream",
                  "BlobType": "Block", "ETag": f'"0x8DD{uuid.uuid4().hex[:12].upper()}"',
                  "LastModified": datetime.now(UTC).isoformat(), "CreatedOn": datetime.now(UTC).isoformat()}
    metadata = {"BlobTrigger": string_data(f"{container}/{name}"), "Uri": string_data(uri),
                "Properties": json_data(properties), "Metadata": json_data({}), "name": string_data(name),
                "sys": sys_metadata(function)}
    return {arg_name: bytes_data(content)}, metadata


def change_feed(function: str, documents: Sequence[Mapping[str, Any]], *,
                arg_name: str = "documents") -> tuple[dict[str, Typed], dict[str, Typed]]:
    return {arg_name: json_data(list(documents))}, {"sys": sys_metadata(function)}


def http(method: str, path: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
         arg_name: str = "req") -> tuple[dict[str, Typed], dict[str, Typed]]:
    """An RpcHttp for `path` (with its query string) on the `/{*route}` trigger."""
    url = HOST_URL + path
    parts = urlsplit(url)
    request: dict[str, Any] = {
        "method": method, "url": url,
        "headers": {"Host": "localhost:7071", "User-Agent": "tests/worker", **(headers or {})},
        "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
        "params": {"route": parts.path.lstrip("/")},
    }
    if body:
        request["headers"].setdefault("Content-Length", str(len(body)))
        request["body"] = bytes_data(body)
    return {arg_name: {"http": request}}, {}


def typed_value(typed: Typed | None) -> Any:
    """The Python value of an answered TypedData (json parsed, bytes decoded)."""
    if not typed:
        return None
    ((kind, value),) = typed.items()
    if kind == "json":
        return json.loads(value)
    if kind == "bytes":
        return base64.b64decode(value)
    return value


def http_response(typed: Typed | None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of an RpcHttp return value."""
    assert typed and "http" in typed, f"not an HTTP response: {typed!r}"
    response = typed["http"]
    body = typed_value(response.get("body")) or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
    return int(response.get("status_code", 0)), headers, body
