"""Continuation tokens of the stores' lists: opaque to clients, and refused
(`NotAToken`, a ValueError the API answers with 422) unless a store made it
for that very list. A token names its list (`kind`), and its key is checked
against the shape the list expects, values in range included: a forged
token holding 2**70 where the store expects a 64-bit sequence used to reach
SQLite and fail there (500), and a plain id token of one list used to page
another."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from common.ports import NotAToken

MAX_KEY_CHARS = 1024
INT64 = 2**63


def encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def decode(token: str) -> str:
    # b64decode skips characters outside the alphabet, so garbage would read
    # as some cursor (often the first page): only a token we made is one.
    try:
        value = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise NotAToken() from error
    if encode(value) != token:
        raise NotAToken()
    return value


def cursor_token(kind: str, key: Any) -> str:
    """A token naming the sort key of the last item a `kind` list handed out."""
    return encode(json.dumps({kind: key}, separators=(",", ":")))


def _fits(value: Any, expected: type) -> bool:
    if type(value) is not expected:  # exact: a bool is no int here
        return False
    if isinstance(value, int):
        return -INT64 <= value < INT64
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return 0 < len(value) <= MAX_KEY_CHARS
    return True


def cursor(kind: str, token: str, shape: type | tuple[type, ...] = str) -> Any:
    """The key a `cursor_token(kind, …)` named, of `shape` (one type, or a
    tuple of types for a list key); NotAToken for any other token."""
    try:
        found = json.loads(decode(token))
    except ValueError as error:  # not JSON, or a number Python will not convert
        raise NotAToken() from error
    if not (isinstance(found, dict) and len(found) == 1 and kind in found):
        raise NotAToken()
    key = found[kind]
    if isinstance(shape, tuple):
        if not (isinstance(key, list) and len(key) == len(shape)
                and all(_fits(v, t) for v, t in zip(key, shape, strict=True))):
            raise NotAToken()
    elif not _fits(key, shape):
        raise NotAToken()
    return key
