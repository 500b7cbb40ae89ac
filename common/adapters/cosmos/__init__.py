"""Cosmos DB (NoSQL API) adapters: the store and the inventory."""

from common.adapters.cosmos.inventory import CosmosInventory
from common.adapters.cosmos.store import CONTAINERS, CosmosStore

__all__ = ["CONTAINERS", "CosmosInventory", "CosmosStore"]
