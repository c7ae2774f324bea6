"""The catalog as reconcile reads it: every tenant's images, page by page, and the one
transition reconcile makes (an image whose original is gone fails).

Not scoped to a tenant: reconcile is an operator's system task and never returns image
data to a client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters.mongo_errors import translated
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord

Document = dict[str, Any]


class ImageScanCatalog:
    """:class:`~pipeline.services.ports.ImageScan` over the ``images`` collection."""

    def __init__(self, images: AsyncCollection[Document]) -> None:
        self.images = images

    async def scan_images(self, *, after: str | None, limit: int) -> list[ImageRecord]:
        query: Document = {"_id": {"$gt": after}} if after else {}
        with translated("scan images"):
            cursor = self.images.find(query).sort("_id", ASCENDING).limit(limit)
            return [ImageRecord.model_validate(doc) async for doc in cursor]

    async def fail_lost(
        self, tenant: str, image_id: str, reason: str, *, unchanged_since: datetime
    ) -> ImageRecord | None:
        guard: Document = {
            "_id": image_id,
            "tenant": tenant,
            "status": {"$ne": "failed"},
            "updated_at": {"$lte": unchanged_since},
        }
        update = {
            "status": "failed",
            "failure": reason,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": utcnow(),
        }
        with translated("mark a lost image failed"):
            doc = await self.images.find_one_and_update(
                guard, {"$set": update}, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else ImageRecord.model_validate(doc)
