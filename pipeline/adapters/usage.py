"""Upload counters and tenant usage in the catalog, shared by every gateway replica.

Rate: one document per API key and fixed one-minute window (``_id`` = key id + window
number), incremented atomically with an upsert, so replicas count together; a TTL index
drops old windows. Usage: the tenant's image count and stored bytes, from the counters
the catalog keeps as images come and go (a sum over the library took 6.3 s at 100k).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters.mongo_errors import translated
from pipeline.adapters.tenants import TenantCounters

Document = dict[str, Any]


class MongoUsageCatalog:
    def __init__(self, windows: AsyncCollection[Document], tenants: TenantCounters) -> None:
        self.windows = windows
        self._tenants = tenants

    async def count_upload(self, key_id: str, window: int, expires_at: datetime) -> int:
        """Add one upload to ``key_id``'s counter of ``window``; the count including it."""
        # findAndModify scans its collection on SecantusDB (adapters/guarded.py): fine here,
        # a few documents per key (the TTL index drops old windows).
        with translated("count upload"):
            doc = await self.windows.find_one_and_update(
                {"_id": f"{key_id}:{window}"},
                {"$inc": {"uploads": 1}, "$setOnInsert": {"expires_at": expires_at}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        return int(doc["uploads"]) if doc else 1

    async def tenant_usage(self, tenant: str) -> tuple[int, int]:
        """(images, bytes of originals) the tenant has now."""
        return await self._tenants.usage(tenant)
