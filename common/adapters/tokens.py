"""Continuation tokens of the stores' lists: opaque to clients, and refused
unless a store made them."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode(token: str) -> str:
    # b64decode skips characters outside the alphabet, so garbage would read
    # as some cursor (often the first page): only a token we made is one.
    try:
        value = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise ValueError("not a continuation token") from error
    if encode(value) != token:
        raise ValueError("not a continuation token")
    return value


def cursor_token(kind: str, key: Any) -> str:
    """A token naming the sort key of the last item a `kind` list handed out."""
    return encode(json.dumps({kind: key}, separators=(",", ":")))


def cursor(kind: str, token: str) -> Any:
    """The key a `cursor_token(kind, …)` named; ValueError for any other token
    (another list's, or one not made here)."""
    try:
        found = json.loads(decode(token))
    except json.JSONDecodeError as error:
        raise ValueError("not a continuation token") from error
    if not (isinstance(found, dict) and len(found) == 1 and kind in found):
        raise ValueError("not a continuation token")
    return found[kind]
