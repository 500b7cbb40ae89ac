"""The `oms` commands that read what happened run on the API tests' world:
the same `settings` and `loaded` fixtures, defined once in tests/api/conftest.py;
`cli` sets that world as the one `oms` in this process uses."""

from collections.abc import Iterator

import pytest

from common.service.bootstrap import Deps
from tests.api.conftest import loaded, settings
from tests.helpers.entry_points import process_deps

__all__ = ["loaded", "settings"]


@pytest.fixture
def cli(loaded: Deps, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deps]:
    monkeypatch.setenv("COLUMNS", "250")
    with process_deps(loaded):
        yield loaded
