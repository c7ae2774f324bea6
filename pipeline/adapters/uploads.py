"""Resumable uploads in the catalog: one document per tus upload, in ``uploads``.

The document is the upload's whole state (see :class:`~pipeline.domain.uploads.UploadRecord`),
so any gateway replica continues any upload. A PATCH takes a lock with a lease in the same
atomic update that checks its offset, and writes its progress guarded by that lock token:
two PATCHes racing on one upload cannot both append.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from pipeline.adapters.guarded import read_then_delete, update_then_read
from pipeline.adapters.mongo_errors import translated
from pipeline.domain.uploads import UploadRecord

Document = dict[str, Any]


class MongoUploadCatalog:
    """Typed access to the ``uploads`` collection; every query carries the tenant."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.uploads = collection

    async def insert_upload(self, record: UploadRecord) -> None:
        with translated("insert upload"):
            await self.uploads.insert_one(record.to_document())

    async def get_upload(self, tenant: str, upload_id: str) -> UploadRecord | None:
        with translated("get upload"):
            doc = await self.uploads.find_one({"_id": upload_id, "tenant": tenant})
        return _record(doc)

    async def lock_upload(
        self,
        tenant: str,
        upload_id: str,
        *,
        offset: int,
        token: str,
        until: datetime,
        now: datetime,
    ) -> UploadRecord | None:
        """Lock an open upload at ``offset`` whose lock is free or lapsed; None otherwise."""
        mine: Document = {
            "_id": upload_id,
            "tenant": tenant,
            "state": "open",
            "offset": offset,
            "expires_at": {"$gt": now},
        }
        # A free lock, then a lapsed one: two point updates, as a top-level $or would make
        # SecantusDB scan every upload.
        doc = None
        with translated("lock upload"):
            for lock in _free_lock(now):
                doc = await update_then_read(
                    self.uploads, {**mine, **lock}, {"$set": {"lock": token, "lock_until": until}}
                )
                if doc is not None:
                    break
        return _record(doc)

    async def renew_lock(self, tenant: str, upload_id: str, token: str, until: datetime) -> bool:
        with translated("renew upload lock"):
            result = await self.uploads.update_one(
                {"_id": upload_id, "tenant": tenant, "lock": token},
                {"$set": {"lock_until": until}},
            )
        return result.matched_count == 1

    async def save_upload(self, record: UploadRecord, token: str) -> bool:
        """Replace the document with ``record`` if ``token`` still holds its lock."""
        with translated("save upload"):
            result = await self.uploads.replace_one(
                {"_id": record.id, "tenant": record.tenant, "lock": token}, record.to_document()
            )
        return result.matched_count == 1

    async def release_lock(self, tenant: str, upload_id: str, token: str) -> None:
        with translated("release upload lock"):
            await self.uploads.update_one(
                {"_id": upload_id, "tenant": tenant, "lock": token},
                {"$set": {"lock": None, "lock_until": None}},
            )

    async def delete_upload(self, tenant: str, upload_id: str) -> UploadRecord | None:
        with translated("delete upload"):
            doc = await read_then_delete(self.uploads, {"_id": upload_id, "tenant": tenant})
        return _record(doc)

    async def expired_uploads(self, now: datetime, limit: int) -> list[UploadRecord]:
        """Uploads of every tenant past their expiry (a system task: the expiry sweeper)."""
        with translated("find expired uploads"):
            # One range of the expires_at index; a PATCH still holding its lease is left
            # alone until it finished (checked here: a clause on the lock beside the range
            # would need a top-level $or, which SecantusDB answers with a scan).
            cursor = self.uploads.find({"expires_at": {"$lt": now}}).limit(limit)
            expired = [UploadRecord.model_validate(doc) async for doc in cursor]
        return [u for u in expired if u.lock is None or (u.lock_until or now) < now]

    async def open_upload_keys(self) -> set[str]:
        """Object keys that open uploads will write: reconcile must leave them alone."""
        with translated("list open uploads"):
            cursor = self.uploads.find({"state": "open"}, {"key": 1})
            return {str(doc["key"]) async for doc in cursor}


def _free_lock(now: datetime) -> tuple[Document, Document]:
    """The two ways an upload's lock is free at ``now``: never taken, or lapsed."""
    return {"lock": None}, {"lock_until": {"$lt": now}}


def _record(doc: Document | None) -> UploadRecord | None:
    return None if doc is None else UploadRecord.model_validate(doc)
