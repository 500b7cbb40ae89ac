from common.adapters.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
