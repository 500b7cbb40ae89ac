"""Property-based run of the whole API from its own OpenAPI document, with
every check schemathesis has: no request gets a 5xx; no answer strays from
the document (status codes, content types, headers, bodies); requests the
document allows are accepted and requests it forbids are refused; a missing
required header or credentials are refused; every method the document does
not list is refused with a right `Allow`.

Where the contract says more than the document can, schemathesis is told so
here, each time with the reason (never to pass a failure by): `If-Match`
missing is 428 (CONTRACT.md), a stale one 412; a body over OMS_MAX_BODY_BYTES is 413; a
continuation token is the list's own (its format, generated below as real
tokens), and the queue's depends on its `sort`."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from common.adapters.tokens import cursor_token
from common.service.bootstrap import Deps

_ID = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-~", min_size=1, max_size=40)
_AT = st.datetimes().map(lambda at: at.isoformat())
# Real tokens of each list (positive data); anything else is negative data, and a 422.
FORMATS = {
    "orders": _ID.map(lambda key: cursor_token("orders", key)),
    "projects": _ID.map(lambda key: cursor_token("projects", key)),
    "audit": st.tuples(_AT, st.integers(0, 2**62)).map(lambda key: cursor_token("audit", list(key))),
    "quarantine": st.tuples(_AT, _ID).map(lambda key: cursor_token("quarantine", list(key))),
    "incidents": st.tuples(_AT, _ID).map(lambda key: cursor_token("incidents", f"{key[0]}|{key[1]}")),
}
for kind, strategy in FORMATS.items():
    schemathesis.openapi.format(f"oms-continuation-{kind}", strategy)

REFERENTIAL = ["2XX", "3XX", 401, 403, 404, 409, 412, 413, 422, 429]
CONFIG = SchemathesisConfig.from_dict({
    # Through the document's own security scheme, so the checks that take the
    # key away (ignored_auth, missing headers) know it was taken away.
    "auth": {"openapi": {"ApiKey": {"api_key": "key-admin"}}},
    "checks": {
        # Any body over OMS_MAX_BODY_BYTES (20,000 in these tests) is refused with 413, whatever its shape;
        # an If-Match of the right shape holds only while it is the order's current ETag, else 412.
        "positive_data_acceptance": {"expected-statuses": ["2XX", "3XX", 401, 403, 404, 409, 412, 413, 429]},
        # CONTRACT.md: PATCH without If-Match is 428 Precondition Required.
        "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 415, 422, 428]},
        # A body the document forbids may also be one over OMS_MAX_BODY_BYTES: refused with 413.
        "negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428]},
    },
    "operations": [
        # The queue's token names its sort order's list (order ids, or time in the state):
        # a token of the other order is refused, so a valid-looking one may be a 422.
        {"include-path": "/api/queue", "checks": {"positive_data_acceptance": {"expected-statuses": REFERENTIAL}}},
        # Bodies that name stored things (a SKU of the catalogue, an order, a project) are
        # checked against the store: an unknown one is a 422 by the contract, whatever its shape.
        {"include-path-regex": "^/api/orders/[^/]+/items$", "checks": {
            "positive_data_acceptance": {"expected-statuses": REFERENTIAL}}},
        {"include-path": "/api/allocation/simulations", "checks": {
            "positive_data_acceptance": {"expected-statuses": REFERENTIAL}}},
    ],
})


@pytest.fixture
def api_schema(app: FastAPI, loaded: Deps) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/api/openapi.json", app, config=CONFIG)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_request_gets_an_answer_the_document_and_the_contract_allow(case: schemathesis.Case) -> None:
    case.call_and_validate()
