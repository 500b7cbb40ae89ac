"""Property-based run of the whole API from its own OpenAPI document: no
request schemathesis makes gets a 5xx, and no answer strays from the
document (status codes, content types, headers, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from common.service.bootstrap import Deps
from tests.api.conftest import auth

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@pytest.fixture
def api_schema(app: FastAPI, loaded: Deps) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_no_request_gets_a_server_error_or_an_answer_outside_the_document(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=auth("admin"), checks=CHECKS)
