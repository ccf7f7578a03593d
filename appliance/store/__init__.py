"""The encrypted SQLite store: one database, PHI columns encrypted, blind indexes for lookups."""

from appliance.store.db import Store, sync_catalog

__all__ = ["Store", "sync_catalog"]
