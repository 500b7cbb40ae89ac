"""The `oms` commands that read what happened run on the API tests' world:
the same `settings` and `loaded` fixtures, defined once in tests/api/conftest.py."""

from tests.api.conftest import loaded, settings

__all__ = ["loaded", "settings"]
