"""Rate counters, tenant usage and quota reservations in the catalog, shared by every
gateway replica.

Rate: one document per counter and fixed one-minute window (``_id`` = counter + window
number), incremented atomically with an upsert, so replicas count together; a TTL index
drops old windows. Usage: the tenant's image count and stored bytes, from the counters
the catalog keeps as images come and go (a sum over the library took 6.3 s at 100k).
Reservations (``quota_reservations``): bytes and one image held by an upload in flight
(a POST, or an open tus upload until it completes or expires). Quota locks
(``quota_locks``): one document per tenant while an admission checks and reserves, so
concurrent admissions of one tenant take turns; an expired lock is taken over. Their
indexes are in :mod:`pipeline.adapters.indexes`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from pipeline.adapters.mongo_errors import translated
from pipeline.adapters.tenants import TenantCounters
from pipeline.domain.usage import StoredFigures

Document = dict[str, Any]


class MongoUsageCatalog:
    def __init__(
        self,
        windows: AsyncCollection[Document],
        tenants: TenantCounters,
        images: AsyncCollection[Document],
        reservations: AsyncCollection[Document],
        locks: AsyncCollection[Document],
    ) -> None:
        self.windows = windows
        self._tenants = tenants
        self._images = images
        self._reservations = reservations
        self._locks = locks

    async def count(
        self, counter: str, window: int, expires_at: datetime, amounts: dict[str, int]
    ) -> dict[str, int]:
        """Add each of ``amounts`` (field -> amount) to ``counter``'s document of ``window``,
        in one write; the counts including them."""
        # findAndModify scans its collection on SecantusDB (adapters/guarded.py): fine here,
        # a few documents per key (the TTL index drops old windows).
        with translated("count upload"):
            doc = await self.windows.find_one_and_update(
                {"_id": f"{counter}:{window}"},
                {"$inc": amounts, "$setOnInsert": {"expires_at": expires_at}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        return {field: int(doc[field]) if doc else amount for field, amount in amounts.items()}

    async def reserved(self, tenant: str, now: datetime) -> tuple[int, int, int]:
        """(images, bytes, open tus uploads) held by ``tenant``'s live reservations."""
        pipeline: list[Document] = [
            {"$match": {"tenant": tenant, "expires_at": {"$gt": now}}},
            {
                "$group": {
                    "_id": "$kind",
                    "images": {"$sum": 1},
                    "bytes": {"$sum": "$bytes"},
                }
            },
        ]
        with translated("sum reservations"):
            rows = [row async for row in await self._reservations.aggregate(pipeline)]
        images = sum(int(row["images"]) for row in rows)
        stored = sum(int(row["bytes"]) for row in rows)
        uploads = sum(int(row["images"]) for row in rows if row["_id"] == "tus")
        return images, stored, uploads

    async def reserve(
        self, tenant: str, holder: str, size: int, kind: str, expires_at: datetime
    ) -> None:
        """Hold ``size`` bytes and one image for ``holder`` until ``expires_at``."""
        doc = {"_id": holder, "tenant": tenant, "bytes": size, "kind": kind}
        with translated("reserve quota"):
            await self._reservations.replace_one(
                {"_id": holder}, doc | {"expires_at": expires_at}, upsert=True
            )

    async def release(self, holder: str) -> None:
        with translated("release quota"):
            await self._reservations.delete_one({"_id": holder})

    async def lock_tenant(self, tenant: str, token: str, until: datetime, now: datetime) -> bool:
        """Take ``tenant``'s quota lock (or one that expired); False while another holds it."""
        with translated("lock quota"):
            try:
                await self._locks.insert_one({"_id": tenant, "token": token, "until": until})
                return True
            except DuplicateKeyError:
                taken = await self._locks.update_one(
                    {"_id": tenant, "until": {"$lte": now}},
                    {"$set": {"token": token, "until": until}},
                )
                return taken.modified_count == 1

    async def unlock_tenant(self, tenant: str, token: str) -> None:
        with translated("unlock quota"):
            await self._locks.delete_one({"_id": tenant, "token": token})

    async def tenant_usage(self, tenant: str) -> tuple[int, int]:
        """(images, bytes of originals) the tenant has now."""
        return await self._tenants.usage(tenant)

    async def stored(self, tenant: str) -> tuple[StoredFigures, StoredFigures]:
        """(the gallery, the trash): photos, bytes of originals and of renditions."""
        renditions = {"$map": {"input": {"$objectToArray": "$renditions"}, "in": "$$this.v.bytes"}}
        pipeline: list[Document] = [
            {"$match": {"tenant": tenant}},
            {
                "$group": {
                    "_id": {"$ne": [{"$ifNull": ["$trashed_at", None]}, None]},
                    "photos": {"$sum": 1},
                    "originals": {"$sum": "$bytes"},
                    "renditions": {"$sum": {"$sum": renditions}},
                }
            },
        ]
        with translated("sum stored bytes"):
            rows = [row async for row in await self._images.aggregate(pipeline)]
        by_trash = {
            bool(row["_id"]): StoredFigures(
                int(row["photos"]), int(row["originals"]), int(row["renditions"])
            )
            for row in rows
        }
        return by_trash.get(False, StoredFigures()), by_trash.get(True, StoredFigures())
