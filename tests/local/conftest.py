"""`oms serve` is checked on the API tests' settings (API keys configured):
the `settings` fixture, defined once in tests/api/conftest.py."""

from tests.api.conftest import settings

__all__ = ["settings"]
