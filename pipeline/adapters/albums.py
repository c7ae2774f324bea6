"""Albums in MongoDB: the ``albums`` collection, and membership as an array on each image.

``images.albums`` holds the ids of the albums an image is in. ``$addToSet``/``$pull`` make
adding and removing idempotent without a read first, and the ``(tenant, albums, seq)``
index serves an album's newest-first listing exactly like the plain one. The album's
``images`` counter moves with each add, remove and image deletion (counting an album's
images would read all of them); its cover is the first of its newest-first listing. Names
are unique per tenant (the ``tenant_name`` index): the command line names albums by name.

Deleting an album is two steps, so no request writes every image of a large album: the
deletion is recorded (``album_deletions``, one document per album being deleted) and the
album document removed, so it is gone for every read; then its id is taken off its images
in bounded batches (:meth:`AlbumCatalog.take_off`: the request does the first, the workers'
sweeper the rest) and the record removed once no image holds it. The record is written
first: a crash at any point leaves it, and the next sweep finishes the deletion.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from pipeline.adapters import windows
from pipeline.adapters.guarded import update_then_read
from pipeline.adapters.mongo_errors import translated
from pipeline.adapters.tenants import TenantCounters
from pipeline.domain.albums import AlbumRecord, same_name
from pipeline.domain.errors import AlbumExists
from pipeline.domain.labels import MAX_LABEL_CHARS
from pipeline.domain.messages import utcnow

Document = dict[str, Any]
log = logging.getLogger(__name__)


class AlbumCatalog:
    """Typed access to albums; every query carries the tenant in its filter."""

    def __init__(
        self,
        images: AsyncCollection[Document],
        albums: AsyncCollection[Document],
        tenants: TenantCounters,
        deletions: AsyncCollection[Document],
    ):
        self._images = images
        self._albums = albums
        self._tenants = tenants
        self._deletions = deletions

    async def insert_album(self, record: AlbumRecord) -> None:
        """Raises AlbumExists when the tenant has an album of that name (unique index)."""
        try:
            with translated("insert album"):
                await self._albums.insert_one(record.to_document())
        except DuplicateKeyError:
            raise await self._exists(record.tenant, record.name) from None

    async def _exists(self, tenant: str, name: str) -> AlbumExists:
        with translated("find album by name"):
            doc = await self._albums.find_one({"tenant": tenant, "name": name}, {"_id": 1})
        return AlbumExists(name, str(doc["_id"]) if doc else None)

    async def get_album(self, tenant: str, album_id: str) -> AlbumRecord | None:
        with translated("get album"):
            doc = await self._albums.find_one({"_id": album_id, "tenant": tenant})
        return _album(doc)

    async def list_albums(
        self, tenant: str, *, limit: int, before: str | None = None
    ) -> list[AlbumRecord]:
        """Newest first; ``before`` is the last id of the previous page."""
        query: Document = {"tenant": tenant}
        if before:
            query["_id"] = {"$lt": before}
        with translated("list albums"):
            cursor = self._albums.find(query).sort("_id", DESCENDING).limit(limit)
            return [AlbumRecord.model_validate(doc) async for doc in cursor]

    async def rename_album(self, tenant: str, album_id: str, name: str) -> AlbumRecord | None:
        """None for no such album; AlbumExists when another album has the name already."""
        try:
            with translated("rename album"):
                doc = await update_then_read(
                    self._albums,
                    {"_id": album_id, "tenant": tenant},
                    {"$set": {"name": name, "updated_at": utcnow()}},
                )
        except DuplicateKeyError:
            raise await self._exists(tenant, name) from None
        return _album(doc)

    async def delete_album(self, tenant: str, album_id: str) -> AlbumRecord | None:
        """Record the deletion, then remove the album (gone for every read from now on;
        nobody can add to it); :meth:`take_off` takes it off its images. None when the
        tenant has no such album."""
        with translated("delete album"):
            doc = await self._albums.find_one({"_id": album_id, "tenant": tenant})
            if doc is None:
                return None
            deletion = {"_id": album_id, "tenant": tenant, "deleted_at": utcnow()}
            await self._deletions.replace_one({"_id": album_id}, deletion, upsert=True)
            if (await self._albums.delete_one({"_id": album_id, "tenant": tenant})).deleted_count:
                return _album(doc)
        return None  # another request deleted it first (and recorded the same deletion)

    async def finish_deletes(self, *, batch: int, most: int) -> int:
        """:meth:`take_off` for every recorded deletion, at most ``most`` images in all;
        how many images were changed (0: nothing was left to do)."""
        done = 0
        with translated("finish album deletes"):
            # One document per album being deleted, gone when it is done: a small collection.
            pending = await self._deletions.find({}).to_list()
        for deletion in pending:
            tenant, album_id = deletion["tenant"], deletion["_id"]
            done += await self.take_off(tenant, album_id, batch=batch, most=most - done)
            if done >= most:
                break
        return done

    async def take_off(self, tenant: str, album_id: str, *, batch: int, most: int) -> int:
        """Take a deleted album off its images, ``batch`` per write and at most ``most``,
        and drop the deletion's record once no image holds it; how many images changed."""
        members = {"tenant": tenant, "albums": album_id}
        done = 0
        with translated("take a deleted album off its images"):
            # A crash between recording the deletion and removing the album: finish that.
            await self._albums.delete_one({"_id": album_id, "tenant": tenant})
            while done < most:
                # The newest holders by the listing index, ``batch`` at a time: one bounded
                # read and one bounded write, however large the album was.
                held = await windows.newest(
                    self._images,
                    members,
                    below=await self._tenants.top_seq(tenant) + 1,
                    limit=min(batch, most - done),
                    projection={"_id": 1},
                )
                if not held:
                    await self._deletions.delete_one({"_id": album_id, "tenant": tenant})
                    break
                await self._images.update_many(
                    {"_id": {"$in": [doc["_id"] for doc in held]}, "tenant": tenant},
                    {"$pull": {"albums": album_id}},
                )
                done += len(held)
        return done

    async def add_to_album(self, tenant: str, album_id: str, image_id: str) -> bool | None:
        """True when added, False when it was in already, None when the tenant has no such image."""
        with translated("add to album"):
            result = await self._images.update_one(
                {"_id": image_id, "tenant": tenant}, {"$addToSet": {"albums": album_id}}
            )
        if result.matched_count == 0:
            return None
        if result.modified_count == 1:
            await self.count_members(tenant, [album_id], 1)
        return result.modified_count == 1

    async def remove_from_album(self, tenant: str, album_id: str, image_id: str) -> bool:
        with translated("remove from album"):
            result = await self._images.update_one(
                {"_id": image_id, "tenant": tenant, "albums": album_id},
                {"$pull": {"albums": album_id}},
            )
        if result.modified_count == 1:
            await self.count_members(tenant, [album_id], -1)
        return result.modified_count == 1

    async def count_members(self, tenant: str, album_ids: list[str], delta: int) -> None:
        """Move the ``images`` counter of each of ``album_ids`` by ``delta``."""
        if not album_ids:
            return
        with translated("count album images"):
            await self._albums.update_many(
                {"_id": {"$in": album_ids}, "tenant": tenant}, {"$inc": {"images": delta}}
            )

    async def album_stats(self, tenant: str, album_id: str) -> tuple[int, str | None]:
        """(images in the album, id of the newest one): its counter and its cover."""
        with translated("read album"):
            album = await self._albums.find_one({"_id": album_id, "tenant": tenant})
            if album is None:
                return 0, None
            newest = await windows.newest(
                self._images,
                {"tenant": tenant, "albums": album_id},
                below=await self._tenants.top_seq(tenant) + 1,
                limit=1,
                projection={"_id": 1},
            )
        return int(album.get("images", 0)), str(newest[0]["_id"]) if newest else None


async def rename_twins(albums: AsyncCollection[Document]) -> int:
    """Give every album that shares its tenant and name with an older one a free name of the
    form ``NAME (2)``, so that the unique ``tenant_name`` index can be built over a catalog
    written before names were unique; how many were renamed. Names are compared, and a
    name stored before names were normalised is rewritten, in NFC (the form the index must
    see: :func:`~pipeline.domain.albums.same_name`). Reads every album once."""
    taken: dict[str, set[str]] = {}
    renames: dict[str, str] = {}  # album id -> its name from now on
    twins: list[Document] = []
    cursor = albums.find({}, {"tenant": 1, "name": 1}).sort("_id", 1)  # oldest keep the name
    async for doc in cursor:
        names, name = taken.setdefault(doc["tenant"], set()), same_name(doc["name"])
        if name in names:
            twins.append(doc)
        elif name != doc["name"]:
            renames[doc["_id"]] = name
        names.add(name)
    for doc in twins:
        names = taken[doc["tenant"]]
        number = 2
        while (free := _numbered(same_name(doc["name"]), number)) in names:
            number += 1
        names.add(free)
        renames[doc["_id"]] = free
        log.warning(
            "album %s of %s renamed %r: its name was taken", doc["_id"], doc["tenant"], free
        )
    for album_id, name in renames.items():
        await albums.update_one({"_id": album_id}, {"$set": {"name": name}})
    return len(twins)


def _numbered(name: str, number: int) -> str:
    """``NAME (n)``, the name cut so that the whole stays within MAX_LABEL_CHARS."""
    suffix = f" ({number})"
    return name[: MAX_LABEL_CHARS - len(suffix)] + suffix


def _album(doc: Document | None) -> AlbumRecord | None:
    return None if doc is None else AlbumRecord.model_validate(doc)
