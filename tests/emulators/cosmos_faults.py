"""Fault injection on the local Cosmos server (tests/emulators/cosmos_server.js).

The server's control endpoint, on the same port as the Cosmos API:

    POST   /_oms/faults  {"status": 429, "count": 2, "retry_after_ms": 50, "substatus": 3200,
                          "delay_ms": 0, "match": {"method": "POST", "path_contains": "/docs"}}
    GET    /_oms/faults  -> {"faults": [...], "injected": n, "by_status": {"429": n, "stall": m}}
    DELETE /_oms/faults  -> clears the faults and the counters

The next `count` requests that match answer `status` with the headers Cosmos
DB sends (x-ms-retry-after-ms for 429, x-ms-substatus) and a Cosmos-shaped
error body; with `delay_ms` the request is held that long first. A fault with
`delay_ms` and no `status` is a stall: the request is held, then served
normally (a write still happens, as on a server that answered too late).

Standard library only. The server's certificate is self-signed and expired,
so this talks to it without verifying it (the local stand-in only).

    from tests.emulators import cosmos_faults
    cosmos_faults.inject(endpoint, status=429, count=2, retry_after_ms=50, method="POST", path_contains="/docs")
    ...
    assert cosmos_faults.injected(endpoint, status=429) == 2
    cosmos_faults.clear(endpoint)
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

FAULTS_PATH = "/_oms/faults"


def _context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the local server's own self-signed, expired certificate
    return context


def request(endpoint: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 30.0) -> tuple[int, Message, bytes]:
    """One raw HTTPS request to the local server: (status, headers, body bytes).
    Error statuses (and 304) are answered, not raised. The local server does
    not check authorization, so no signature is sent."""
    data = None
    sent = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent.setdefault("content-type", "application/json")
    url = endpoint.rstrip("/") + path
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, context=_context(), timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def _call(endpoint: str, method: str, body: Any = None) -> dict[str, Any]:
    status, _, payload = request(endpoint, method, FAULTS_PATH, body)
    answer: dict[str, Any] = json.loads(payload or b"{}")
    if status >= 400:
        raise ValueError(f"{method} {FAULTS_PATH} answered {status}: {answer.get('message', answer)}")
    return answer


def inject(endpoint: str, *, status: int | None = None, count: int = 1, retry_after_ms: int | None = None,
           substatus: int | None = None, delay_ms: int | None = None, method: str | None = None,
           path_contains: str | None = None) -> dict[str, Any]:
    """Make the next `count` requests matching `method` / `path_contains` answer
    `status` (after `delay_ms`), or, without a status, be held `delay_ms` and
    then served. Answers the fault as the server stored it."""
    spec: dict[str, Any] = {"count": count, "match": {}}
    if status is not None:
        spec["status"] = status
    if retry_after_ms is not None:
        spec["retry_after_ms"] = retry_after_ms
    if substatus is not None:
        spec["substatus"] = substatus
    if delay_ms is not None:
        spec["delay_ms"] = delay_ms
    if method is not None:
        spec["match"]["method"] = method
    if path_contains is not None:
        spec["match"]["path_contains"] = path_contains
    return _call(endpoint, "POST", spec)


def stall(endpoint: str, delay_ms: int, *, count: int = 1, method: str | None = None,
          path_contains: str | None = None) -> dict[str, Any]:
    """Hold the next `count` matching requests for `delay_ms`, then serve them."""
    return inject(endpoint, delay_ms=delay_ms, count=count, method=method, path_contains=path_contains)


def faults(endpoint: str) -> dict[str, Any]:
    """The server's faults and counters, as GET /_oms/faults answers them."""
    return _call(endpoint, "GET")


def injected(endpoint: str, status: int | str | None = None) -> int:
    """How many answers were injected since the last clear: all of them, or
    those of one status (429, 503 ... or "stall")."""
    answer = faults(endpoint)
    if status is None:
        return int(answer["injected"])
    return int(answer["by_status"].get(str(status), 0))


def clear(endpoint: str) -> None:
    """Remove every fault and reset the counters."""
    _call(endpoint, "DELETE")
