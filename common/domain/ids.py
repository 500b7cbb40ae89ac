"""Deterministic identifiers: replaying the same input yields the same ids."""

from __future__ import annotations

import hashlib

from common.domain.models import StreamKey

_TYPE_CODES = {"NewBuild": "NB", "Upgrade": "UP", "Modification": "MO", "Maintenance": "MA"}


def order_id(key: StreamKey, seq: int) -> str:
    """`<project>~<site>~<order type>~<seq>`: stable, readable, and the
    project (the Cosmos partition key) can be read back from it."""
    return f"{key.id}~{seq}"


def project_of(order_id_: str) -> str:
    return order_id_.split("~", 1)[0]


def order_number(key: StreamKey, seq: int) -> str:
    code = _TYPE_CODES.get(key.order_type, key.order_type[:2].upper())
    return f"{key.site_code}-{code}-{seq:03d}"


def history_id(order_id_: str, version: int) -> str:
    """Audit entry and outbox event of the write that produced `version`."""
    return f"{order_id_}@{version}"


def stream_history_id(stream_id: str, correlation: str) -> str:
    digest = hashlib.blake2b(f"{stream_id}|{correlation}".encode(), digest_size=8).hexdigest()
    return f"{stream_id}@{digest}"


def refusal_id(order_id_: str, action: str, correlation: str) -> str:
    """Audit entry of a refused request or callback: one per request, so a
    redelivered callback refused again does not add a second entry."""
    digest = hashlib.blake2b(f"{action}|{correlation}".encode(), digest_size=8).hexdigest()
    return f"{order_id_}@refused-{digest}"


def marker_id(source: str, event_id: str) -> str:
    return f"mk~{source}~{event_id}"


def quarantine_id(source: str, event_id: str | None, payload: bytes) -> str:
    """Redelivery of the same bad input lands on the same record; another
    input that claims the same event id gets a record of its own (keying by
    the id alone let a second event overwrite the first)."""
    base = f"{source}|{event_id or ''}|".encode() + hashlib.blake2b(payload, digest_size=16).digest()
    return "q-" + hashlib.blake2b(base, digest_size=10).hexdigest()
