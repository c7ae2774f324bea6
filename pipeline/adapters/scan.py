"""The catalog as reconcile and backfill read it: every tenant's images, batch by batch,
and the one transition reconcile makes (an image whose original is gone fails).

A walk visits tenants in name order and each tenant's images in ``seq`` order, one bounded
range of ``seq`` (of the ``tenant_seq`` index) per batch: each batch costs the same however
large the library, and its position (:class:`~pipeline.domain.models.WalkPosition`) is all
it needs to continue.

Not scoped to a tenant: reconcile is an operator's system task and never returns image
data to a client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters import windows
from pipeline.adapters.guarded import update_then_read
from pipeline.adapters.mongo_errors import translated
from pipeline.adapters.tenants import TenantCounters
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, TenantCounts, WalkPosition

Document = dict[str, Any]


class ImageScanCatalog:
    """:class:`~pipeline.services.ports.ImageScan` over the ``images`` collection."""

    def __init__(
        self,
        images: AsyncCollection[Document],
        tenants: TenantCounters,
        albums: AsyncCollection[Document],
    ) -> None:
        self.images = images
        self._tenants = tenants
        self._albums = albums

    async def scan_images(
        self, *, after: WalkPosition | None, limit: int
    ) -> tuple[list[ImageRecord], WalkPosition | None]:
        """The next batch after ``after`` (None: from the start): the images of at most
        ``limit`` consecutive sequence numbers of one tenant (fewer where some were
        deleted), and where the next batch starts (None: the walk is done)."""
        if after is None:
            first = await self._tenants.tenant_after(None)
            if first is None:
                return [], None
            after = WalkPosition(first[0], 0)
            top = first[1]
        else:
            top = await self._tenants.top_seq(after.tenant)
        if after.seq >= top:  # this tenant is done: the next one starts at 0
            following = await self._tenants.tenant_after(after.tenant)
            return [], None if following is None else WalkPosition(following[0], 0)
        upto = min(after.seq + limit, top)
        with translated("scan images"):
            docs = await windows.ascending(
                self.images, {"tenant": after.tenant}, above=after.seq, upto=upto
            )
        return [ImageRecord.model_validate(doc) for doc in docs], WalkPosition(after.tenant, upto)

    async def count_images(self) -> int:
        """Images of every tenant (from the counters): a walk's total."""
        return await self._tenants.total_images()

    async def tenant_counts(self, tenant: str) -> TenantCounts:
        """The tenant's maintained counters: usage and sequence, and each album's count."""
        images, stored, seq = await self._tenants.counts(tenant)
        with translated("read album counters"):
            cursor = self._albums.find({"tenant": tenant}, projection={"images": 1})
            albums = {str(doc["_id"]): int(doc.get("images", 0)) async for doc in cursor}
        return TenantCounts(images=images, bytes=stored, seq=seq, albums=albums)

    async def repair_counts(self, tenant: str, seen: TenantCounts, counted: TenantCounts) -> int:
        """Set every counter of ``tenant`` that differs from ``counted`` to it, each only if
        it still holds its ``seen`` value; how many had moved on (left for a later pass)."""
        busy = 0
        usage_seen, usage_counted = (seen.images, seen.bytes), (counted.images, counted.bytes)
        if not await self._tenants.repair(tenant, usage_seen, usage_counted, counted.seq):
            busy += 1
        for album, had in seen.albums.items():
            has = counted.albums.get(album, 0)
            if had == has:
                continue
            with translated("repair album counter"):
                result = await self._albums.update_one(
                    {"_id": album, "tenant": tenant, "images": had}, {"$set": {"images": has}}
                )
            busy += result.matched_count == 0
        return busy

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
            doc = await update_then_read(self.images, guard, {"$set": update})
        return None if doc is None else ImageRecord.model_validate(doc)
