"""Signed warehouse callbacks: HMAC-SHA256 of the raw request body with the
shared secret `OMS_WEBHOOK_SECRET`, sent as `X-OMS-Signature: sha256=<hex>`."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-OMS-Signature"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value a sender puts on `body`."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of exactly these bytes. Constant-time
    in the compared value, so a caller cannot learn the digest byte by byte."""
    if not header:
        return False
    sent = header.strip()
    if sent[:len(PREFIX)].lower() != PREFIX:
        return False
    return hmac.compare_digest(sent[len(PREFIX):].lower().encode(), sign(secret, body)[len(PREFIX):].encode())
