"""Share links in MongoDB (``shares``): only the token's hash is stored.

Indexes (declared in :mod:`pipeline.adapters.indexes`): ``token_hash`` (unique: how a
request's link is found) and ``(tenant, _id)`` (the owner's newest-first listing). Revoked
and expired links are kept, marked, so the owner still sees their use counts; nothing ever
answers for them.
"""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters.mongo_errors import translated
from pipeline.domain.messages import utcnow
from pipeline.domain.shares import ShareRecord

Document = dict[str, Any]


class ShareCatalog:
    def __init__(self, shares: AsyncCollection[Document]) -> None:
        self._shares = shares

    async def insert_share(self, record: ShareRecord) -> None:
        with translated("insert share"):
            await self._shares.insert_one(record.to_document())

    async def find_share(self, token_hash: str) -> ShareRecord | None:
        """The link whose token hashes to ``token_hash`` (live or not); None if none."""
        with translated("find share"):
            doc = await self._shares.find_one({"token_hash": token_hash})
        return None if doc is None else ShareRecord.model_validate(doc)

    async def list_shares(
        self, tenant: str, *, limit: int, before: str | None = None
    ) -> list[ShareRecord]:
        """Newest first, ids below ``before``."""
        query: Document = {"tenant": tenant}
        if before:
            query["_id"] = {"$lt": before}
        with translated("list shares"):
            cursor = self._shares.find(query).sort("_id", DESCENDING).limit(limit)
            return [ShareRecord.model_validate(doc) async for doc in cursor]

    async def revoke_share(self, tenant: str, share_id: str) -> ShareRecord | None:
        """Mark revoked (idempotent: the first time stays); None for no such link."""
        with translated("revoke share"):
            await self._shares.update_one(
                {"_id": share_id, "tenant": tenant, "revoked_at": None},
                {"$set": {"revoked_at": utcnow()}},
            )
            doc = await self._shares.find_one({"_id": share_id, "tenant": tenant})
        return None if doc is None else ShareRecord.model_validate(doc)

    async def count_use(self, share_id: str) -> None:
        """One more opening of the link."""
        with translated("count share use"):
            await self._shares.update_one(
                {"_id": share_id}, {"$inc": {"uses": 1}, "$set": {"last_used_at": utcnow()}}
            )
