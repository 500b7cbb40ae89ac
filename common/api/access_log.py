"""Keeps API keys out of the access log: a key someone still puts in a URL
(an old bookmark's `?key=`) is written as `?key=REDACTED`. The console and
the dashboard never put it there; this guards the log against those who do."""

from __future__ import annotations

import logging
import re

# Query parameters that have carried keys: ours (`key`) and common spellings.
SECRET_PARAMETER = re.compile(r"([?&](?:key|api_key|apikey|api-key|x-api-key|code)=)[^&\s\"']*", re.IGNORECASE)
ACCESS_LOGGERS = ("uvicorn.access",)


def redact(text: str) -> str:
    return SECRET_PARAMETER.sub(r"\1REDACTED", text)


class RedactKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def redact_keys_in_access_log() -> None:
    """Idempotent: one filter per access logger, however many apps are made."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactKeys) for f in logger.filters):
            logger.addFilter(RedactKeys())
