from common.adapters.sqlite.inventory import SqliteInventory
from common.adapters.sqlite.store import SqliteStore

__all__ = ["SqliteInventory", "SqliteStore"]
