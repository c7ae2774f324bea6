"""Per-tenant counters in the catalog (``tenants``, one document per tenant, ``_id`` = tenant).

``seq`` is the tenant's completion sequence: every image takes the next number when its
record is written (the upload completed), so the newest-first listing is newest completed,
and a page's cursor (a ``seq``) can never have a later completion slip behind it. ``images``
and ``bytes`` are the tenant's usage, kept as images come and go, so a quota check is one
point read instead of a sum over the library.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from pipeline.adapters.mongo_errors import translated

Document = dict[str, Any]


class TenantCounters:
    """Typed access to the ``tenants`` collection."""

    def __init__(self, tenants: AsyncCollection[Document]) -> None:
        self.tenants = tenants

    async def take_seqs(self, tenant: str, count: int = 1) -> int:
        """Reserve ``count`` numbers of ``tenant``'s sequence; the first of them (>= 1)."""
        # findAndModify scans its collection on SecantusDB (adapters/guarded.py): fine here,
        # one small document per tenant, and the increment must return its own value.
        while True:
            with translated("take a listing sequence number"):
                doc = await self.tenants.find_one_and_update(
                    {"_id": tenant}, {"$inc": {"seq": count}}, return_document=ReturnDocument.AFTER
                )
            if doc is not None:
                return int(doc["seq"]) - count + 1
            await self._create(tenant)

    async def _create(self, tenant: str) -> None:
        """The tenant's counters at zero, unless they exist. Not an upsert: two concurrent
        upserts of one new document can fail (a duplicate key, or SecantusDB answering
        neither document nor error), so the first upload of a tenant raced its second."""
        with contextlib.suppress(DuplicateKeyError), translated("create tenant counters"):
            await self.tenants.insert_one({"_id": tenant, "seq": 0, "images": 0, "bytes": 0})

    async def top_seq(self, tenant: str) -> int:
        """The highest number ``tenant``'s sequence has given out (0 for a new tenant)."""
        with translated("read tenant counters"):
            doc = await self.tenants.find_one({"_id": tenant}, projection={"seq": 1})
        return int(doc.get("seq", 0)) if doc else 0

    async def add_usage(self, tenant: str, images: int, stored: int) -> None:
        """Add ``images`` and ``stored`` bytes (negative to take away) to the tenant's usage."""
        while True:
            with translated("count tenant usage"):
                result = await self.tenants.update_one(
                    {"_id": tenant}, {"$inc": {"images": images, "bytes": stored}}
                )
            if result.matched_count:
                return
            await self._create(tenant)

    async def usage(self, tenant: str) -> tuple[int, int]:
        """(images, bytes of originals) the tenant has now."""
        with translated("read tenant usage"):
            doc = await self.tenants.find_one({"_id": tenant})
        if doc is None:
            return 0, 0
        return int(doc.get("images", 0)), int(doc.get("bytes", 0))

    async def counts(self, tenant: str) -> tuple[int, int, int]:
        """(images, bytes, seq) as the tenant's counters hold them (zeros for a new tenant)."""
        with translated("read tenant counters"):
            doc = await self.tenants.find_one({"_id": tenant})
        doc = doc or {}
        return int(doc.get("images", 0)), int(doc.get("bytes", 0)), int(doc.get("seq", 0))

    async def repair(
        self, tenant: str, seen: tuple[int, int], counted: tuple[int, int], seq: int
    ) -> bool:
        """Set the tenant's usage to ``counted`` (images, bytes) unless it moved away from
        ``seen`` meanwhile (False then: an upload or a delete ran; a later pass repairs it),
        and raise its sequence to at least ``seq`` (a number must never be given twice)."""
        with translated("repair tenant counters"):
            await self.tenants.update_one({"_id": tenant}, {"$max": {"seq": seq}})
            if seen == counted:
                return True
            result = await self.tenants.update_one(
                {"_id": tenant, "images": seen[0], "bytes": seen[1]},
                {"$set": {"images": counted[0], "bytes": counted[1]}},
            )
        return bool(result.matched_count)

    async def tenant_after(self, tenant: str | None) -> tuple[str, int] | None:
        """(the next tenant after ``tenant`` by name, its top seq), or None past the last.

        Walks visit tenants one at a time; there are few of them next to their images.
        """
        query: Document = {} if tenant is None else {"_id": {"$gt": tenant}}
        with translated("list tenants"):
            doc = await self.tenants.find_one(
                query, projection={"seq": 1}, sort=[("_id", ASCENDING)]
            )
        return None if doc is None else (str(doc["_id"]), int(doc.get("seq", 0)))

    async def total_images(self) -> int:
        """Images of every tenant, from the counters (for a walk's progress)."""
        with translated("count images"):
            return sum([int(d.get("images", 0)) async for d in self.tenants.find({})])
