"""A stateful run from the OpenAPI document's links: schemathesis walks the
workflow the links describe (an engineering event creates an order; the order
is read, its ETag goes into If-Match for edits, approvals, rejections and
cancellations; an allocation run's report is read) and every answer on the way
passes every check, as in tests/api/test_openapi_fuzz.py."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from common.service.bootstrap import Deps
from tests.api.test_openapi_fuzz import CONFIG


def test_the_document_links_the_workflow(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=CONFIG)
    assert schema.statistic.transitions.total >= 12


@pytest.mark.slow
def test_walking_the_links_from_intake_to_approval_keeps_to_the_document_and_the_contract(
        app: FastAPI, loaded: Deps) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=CONFIG)
    schema.as_state_machine().run(settings=settings(
        max_examples=20, stateful_step_count=6, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
