"""The containers of the OMS database, from the one description that the
Bicep also reads (`containers.json`: partition key, indexing policy, TTL), and
creating them where they are missing (emulators, stand-ins, `oms cosmos init`).
In Azure infra/ provisions them and the app's identity may not create any."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from azure.cosmos import CosmosClient, DatabaseProxy, PartitionKey, exceptions

DESCRIPTION = Path(__file__).with_name("containers.json")


@cache
def containers() -> dict[str, dict[str, Any]]:
    """name -> its description (partitionKey, indexingPolicy, defaultTtl)."""
    data = json.loads(DESCRIPTION.read_text(encoding="utf-8"))
    return {c["name"]: c for c in data["containers"]}


def partition_path(name: str) -> str:
    return str(containers()[name]["partitionKey"])


def ensure_containers(client: CosmosClient, database: str, names: list[str] | None = None) -> list[str]:
    """Create the database and the named containers (all by default) that do
    not exist yet, as described; returns the names created."""
    try:
        db: DatabaseProxy = client.get_database_client(database)
        db.read()
    except exceptions.CosmosResourceNotFoundError:
        db = client.create_database_if_not_exists(database)
    created = []
    for name in names or list(containers()):
        spec = containers()[name]
        try:
            db.get_container_client(name).read()
            continue
        except exceptions.CosmosResourceNotFoundError:
            pass
        options: dict[str, Any] = {}
        if "indexingPolicy" in spec:
            options["indexing_policy"] = spec["indexingPolicy"]
        if "defaultTtl" in spec:
            options["default_ttl"] = spec["defaultTtl"]
        db.create_container_if_not_exists(name, partition_key=PartitionKey(spec["partitionKey"]), **options)
        created.append(name)
    return created
