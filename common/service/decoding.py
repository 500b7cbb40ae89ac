"""The one JSON decoder every intake uses (Event Hub bodies, event files,
HTTP bodies, the local server): bounded, so no value can poison it.

Python's own `json.loads` has three ways to fail on hostile input that are
not a `JSONDecodeError`: nesting deep enough to raise `RecursionError`, an
integer past `sys.get_int_max_str_digits()` (4,300 digits) raising
`ValueError`, and nothing at all for `NaN`, `Infinity`, a float that
overflows to infinity, a megabyte string or a 100 MB document, which then
travel on into the store and the outbox. Here each of them is a refusal
(`JsonRefused`) with a precise reason type, which the intakes turn into a
quarantine reason for that one event (or a 400/422 over HTTP).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

NOT_JSON = "json_invalid"
NOT_UTF8 = "json_invalid"  # as before: a body that is not UTF-8 is no JSON text
TOO_LARGE = "too_large"
TOO_DEEP = "too_deep"
NUMBER_TOO_LONG = "number_too_long"
NOT_FINITE = "not_finite"
STRING_TOO_LONG = "string_too_long"


@dataclass(frozen=True)
class JsonLimits:
    # An Event Hubs message is at most 1 MB (premium and dedicated tiers).
    max_bytes: int = 1_048_576
    # An engineering event nests four deep (event, items, item, attribute map).
    max_depth: int = 32
    # Digits of one number, sign and exponent included; qty, versions and
    # coordinates need fewer than 20.
    max_number_chars: int = 40
    max_string_chars: int = 65_536


LIMITS = JsonLimits()


class JsonRefused(ValueError):
    def __init__(self, kind: str, msg: str, text: str | None = None) -> None:
        super().__init__(msg)
        self.kind = kind
        self.msg = msg
        self.text = text  # the refused element's text (iter_array)


def _hooks(limits: JsonLimits) -> dict[str, Any]:
    def number(text: str, parse: Any) -> Any:
        if len(text) > limits.max_number_chars:
            raise JsonRefused(NUMBER_TOO_LONG, f"a number of {len(text)} characters (at most "
                                               f"{limits.max_number_chars}): {text[:20]}…")
        value = parse(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise JsonRefused(NOT_FINITE, f"the number {text} is out of range")
        return value

    def constant(name: str) -> Any:
        raise JsonRefused(NOT_FINITE, f"{name} is not a JSON number")

    return {"parse_int": lambda text: number(text, int), "parse_float": lambda text: number(text, float),
            "parse_constant": constant}


def _check_shape(value: Any, limits: JsonLimits) -> None:
    """Depth and string lengths, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if len(node) > limits.max_string_chars:
                raise JsonRefused(STRING_TOO_LONG, f"a string of {len(node)} characters (at most "
                                                   f"{limits.max_string_chars})")
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > limits.max_depth:
            raise JsonRefused(TOO_DEEP, f"nested more than {limits.max_depth} deep")
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node)
            stack.extend((child, depth + 1) for child in node.values())
        else:
            stack.extend((child, depth + 1) for child in node)


def _text(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonRefused(NOT_UTF8, f"not UTF-8: {error}") from error


def loads(body: bytes | str, limits: JsonLimits = LIMITS) -> Any:
    """One JSON document, or `JsonRefused`."""
    size = len(body) if isinstance(body, bytes) else len(body.encode("utf-8", errors="surrogatepass"))
    if size > limits.max_bytes:
        raise JsonRefused(TOO_LARGE, f"{size} bytes (at most {limits.max_bytes})")
    text = _text(body)
    try:
        value = json.loads(text, **_hooks(limits))
    except RecursionError as error:
        raise JsonRefused(TOO_DEEP, f"nested more than {limits.max_depth} deep") from error
    except json.JSONDecodeError as error:
        raise JsonRefused(NOT_JSON, str(error)) from error
    except ValueError as error:  # what the hooks did not catch, e.g. a number Python cannot convert
        if isinstance(error, JsonRefused):
            raise
        raise JsonRefused(NOT_JSON, str(error)) from error
    _check_shape(value, limits)
    return value


# ---------------------------------------------------------------- arrays
def _skip(text: str, start: int) -> int:
    """Where the JSON value starting at `start` ends, found by matching
    brackets outside strings (no recursion, no number conversion)."""
    depth = 0
    index = start
    n = len(text)
    while index < n:
        char = text[index]
        if char == '"':
            index += 1
            while index < n and text[index] != '"':
                index += 2 if text[index] == "\\" else 1
        elif char in "[{":
            depth += 1
        elif char in "]}":
            if depth == 0:
                return index
            depth -= 1
            if depth == 0:
                return index + 1
        elif char == "," and depth == 0:
            return index
        index += 1
    return n


def iter_array(text: str, limits: JsonLimits = LIMITS) -> Iterator[Any]:
    """The elements of one top-level JSON array, each decoded on its own
    (bounded as one document): an element that is refused comes out as its
    `JsonRefused` with its text (`.text`), the others as values. Raises
    `JsonRefused` when the array itself is broken."""
    decoder = json.JSONDecoder(**_hooks(limits))
    ws = " \t\r\n"
    index = len(text) - len(text.lstrip(ws))
    if text[index:index + 1] != "[":
        raise JsonRefused(NOT_JSON, "not a JSON array")
    index += 1
    first = True
    while True:
        while index < len(text) and text[index] in ws:
            index += 1
        if index >= len(text):
            raise JsonRefused(NOT_JSON, "the array is not closed")
        if text[index] == "]":
            if text[index + 1:].strip(ws):
                raise JsonRefused(NOT_JSON, f"extra data after the array at character {index + 1}")
            return
        if not first:
            if text[index] != ",":
                raise JsonRefused(NOT_JSON, f"expected ',' or ']' at character {index}")
            index += 1
            while index < len(text) and text[index] in ws:
                index += 1
        first = False
        try:
            value, end = decoder.raw_decode(text, index)
            _check_shape(value, limits)
            if end - index > limits.max_bytes:
                raise JsonRefused(TOO_LARGE, f"{end - index} characters (at most {limits.max_bytes})")
        except (JsonRefused, RecursionError, json.JSONDecodeError, ValueError) as error:
            end = _skip(text, index)
            if end == index:
                raise JsonRefused(NOT_JSON, f"{error} at character {index}") from error
            kind = error.kind if isinstance(error, JsonRefused) else \
                TOO_DEEP if isinstance(error, RecursionError) else NOT_JSON
            yield JsonRefused(kind, str(error) or type(error).__name__, text[index:end])
        else:
            yield value
        index = end
