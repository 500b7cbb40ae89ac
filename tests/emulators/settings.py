"""Where the tests find the local stand-ins (the environment scripts/test exports).

The Cosmos DB emulator's well-known key is public (it is the same for every
emulator install); the local server accepts any key.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _reachable(url: str | None) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 443), timeout=1):
            return True
    except OSError:
        return False


def cosmos_endpoint() -> str | None:
    return os.environ.get("OMS_TEST_COSMOS_ENDPOINT") or None


def cosmos_key() -> str:
    return os.environ.get("OMS_TEST_COSMOS_KEY") or EMULATOR_KEY


def _skip_reason(endpoint: str | None, variable: str, no: str, at: str) -> str | None:
    """Why the tests of a stand-in skip: `variable` unset (`no`: what is
    missing), or nothing answering at its endpoint (`at`: who does not)."""
    if endpoint is None:
        return (f"{no}: {variable} is not set "
                f"({os.environ.get('OMS_TEST_EMULATORS_SKIPPED') or 'run the suite with scripts/test'})")
    if not _reachable(endpoint):
        return f"{at} at {endpoint} does not answer"
    return None


def cosmos_skip_reason() -> str | None:
    return _skip_reason(cosmos_endpoint(), "OMS_TEST_COSMOS_ENDPOINT", "no Cosmos DB server", "the Cosmos DB server")


def azurite_blob() -> str | None:
    return os.environ.get("OMS_TEST_AZURITE_BLOB") or None


def azurite_connection_string() -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={azurite_blob()};")


def azurite_skip_reason() -> str | None:
    return _skip_reason(azurite_blob(), "OMS_TEST_AZURITE_BLOB", "no Azurite", "Azurite")
