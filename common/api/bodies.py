"""Request bodies through the one bounded JSON decoder
(common.service.decoding): a body that is not JSON is a 400, one the decoder
refuses (too deep, a number or string too long, NaN) a 422 naming the limit.
The body's size is the body-size guard's (OMS_MAX_BODY_BYTES, 413)."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from common.api.problems import ProblemError
from common.service.decoding import LIMITS, NOT_JSON, JsonRefused, loads

HTTP_LIMITS = replace(LIMITS, max_bytes=sys.maxsize)


def parse_json(raw: bytes, *, syntax_errors: bool = True) -> Any:
    """The body's JSON value. `syntax_errors=False`: a body that is simply
    not JSON passes (the route's own parsing answers it)."""
    try:
        return loads(raw, HTTP_LIMITS)
    except JsonRefused as error:
        if error.kind == NOT_JSON:
            if not syntax_errors:
                return None
            raise ProblemError(400, f"the request body is not valid JSON: {error.msg}", kind="malformed-body") \
                from error
        raise ProblemError(422, f"the request body is refused: {error.msg}", kind="validation-error",
                           errors=[{"loc": ["body"], "msg": error.msg, "type": error.kind}]) from error
