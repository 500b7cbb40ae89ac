"""A stateful run from the OpenAPI document's links: schemathesis walks the
workflow the links describe (an engineering event creates an order; the order
is read, its ETag goes into If-Match for edits, approvals, rejections and
cancellations; an allocation run's report is read) and every answer on the way
passes every check, as in tests/api/test_openapi_fuzz.py."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from common.adapters.clock import FixedClock
from common.adapters.notify import MemoryNotifier
from common.api.deps import provide_deps
from tests.api.conftest import api_settings, load_api_samples
from tests.api.test_openapi_fuzz import CONFIG
from tests.helpers.sqlite import open_sqlite


def test_the_document_links_the_workflow(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=CONFIG)
    assert schema.statistic.transitions.total >= 12


@pytest.mark.slow
def test_walking_the_links_from_intake_to_approval_keeps_to_the_document_and_the_contract(
        app: FastAPI, tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=CONFIG)
    walks = itertools.count()

    class FromTheSamples(schema.as_state_machine()):  # type: ignore[misc]
        """Every walk starts from the same freshly loaded store. With one store
        for all, a walk found the state the walks before it left, and
        hypothesis, replaying a walk's choices against another state, saw
        other rules enabled and stopped with FlakyStrategyDefinition
        (whether it did depended on the random ids and ETags of earlier
        answers)."""

        def setup(self) -> None:
            self.opened = open_sqlite(api_settings(tmp_path / f"walk-{next(walks)}"), clock=FixedClock(),
                                      notifier=MemoryNotifier())
            walk = load_api_samples(self.opened.__enter__())
            app.dependency_overrides[provide_deps] = lambda: walk

        def teardown(self) -> None:
            self.opened.__exit__(None, None, None)

    FromTheSamples.run(settings=settings(
        max_examples=20, stateful_step_count=6, deadline=None, derandomize=True,
        suppress_health_check=list(HealthCheck)))
