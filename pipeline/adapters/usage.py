"""Upload counters and tenant usage in the catalog, shared by every gateway replica.

Rate: one document per API key and fixed one-minute window (``_id`` = key id + window
number), incremented atomically with an upsert, so replicas count together; a TTL index
drops old windows. Usage: the tenant's image count and stored bytes, read from ``images``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters.mongo_errors import translated

Document = dict[str, Any]


class MongoUsageCatalog:
    def __init__(
        self, windows: AsyncCollection[Document], images: AsyncCollection[Document]
    ) -> None:
        self.windows = windows
        self._images = images

    async def ensure_indexes(self) -> None:
        with translated("create rate window index"):
            await self.windows.create_index(
                [("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at"
            )

    async def count_upload(self, key_id: str, window: int, expires_at: datetime) -> int:
        """Add one upload to ``key_id``'s counter of ``window``; the count including it."""
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
        pipeline: list[Document] = [
            {"$match": {"tenant": tenant}},
            {"$group": {"_id": None, "images": {"$sum": 1}, "bytes": {"$sum": "$bytes"}}},
        ]
        with translated("sum tenant usage"):
            rows = [row async for row in await self._images.aggregate(pipeline)]
        if not rows:
            return 0, 0
        return int(rows[0]["images"]), int(rows[0]["bytes"])
