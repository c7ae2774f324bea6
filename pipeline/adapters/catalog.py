"""The catalog: image documents and API keys in MongoDB (PyMongo's async API).

Every image query carries the tenant in its filter, so a bug elsewhere cannot leak another
tenant's photo. Status transitions are guarded in the update filter
(``queued -> processing -> ready | failed``), so a redelivered job or a racing worker finds
nothing to update instead of overwriting a newer state.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from pipeline.adapters import indexes, windows
from pipeline.adapters.albums import AlbumCatalog
from pipeline.adapters.backlog import BacklogCatalog
from pipeline.adapters.guarded import read_then_delete, update_then_read
from pipeline.adapters.keys import ApiKeyCatalog
from pipeline.adapters.migrate import migrate_catalog
from pipeline.adapters.mongo_errors import translated as _translated
from pipeline.adapters.scan import ImageScanCatalog
from pipeline.adapters.shares import ShareCatalog
from pipeline.adapters.tenants import TenantCounters
from pipeline.adapters.timeline import TimelineDays
from pipeline.adapters.uploads import MongoUploadCatalog
from pipeline.adapters.usage import MongoUsageCatalog
from pipeline.domain.errors import DuplicateImage
from pipeline.domain.messages import utcnow
from pipeline.domain.models import MOTION, VIDEO_PREVIEW, ImageRecord, ReadyImage
from pipeline.domain.search import ImageFilter, Order
from pipeline.runtime.settings import MongoSettings

Document = dict[str, Any]
Reader = Callable[..., Awaitable[list[Document]]]


class MongoCatalog:
    """Typed access to the ``images`` and ``api_keys`` collections."""

    def __init__(self, client: AsyncMongoClient[Document], settings: MongoSettings) -> None:
        self._client = client
        self._db = db = client[settings.database]
        self.images: AsyncCollection[Document] = db["images"]
        self.api_keys: AsyncCollection[Document] = db["api_keys"]
        self.tenants = TenantCounters(db["tenants"])
        self.albums = AlbumCatalog(self.images, db["albums"], self.tenants, db["album_deletions"])
        self.keys = ApiKeyCatalog(self.api_keys)
        self.uploads = MongoUploadCatalog(db["uploads"])
        self.usage = MongoUsageCatalog(
            db["rate_windows"],
            self.tenants,
            self.images,
            db["quota_reservations"],
            db["quota_locks"],
        )
        self.scan = ImageScanCatalog(self.images, self.tenants, db["albums"])
        self.backlog = BacklogCatalog(self.images)
        self.shares = ShareCatalog(db["shares"])
        self.timeline = TimelineDays(db["timeline_days"])

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, settings: MongoSettings) -> AsyncIterator[MongoCatalog]:
        timeout_ms = int(settings.timeout_seconds * 1000)
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            # Client-side operation timeout: a hung server fails each call after this long
            # (CatalogError, 503) instead of holding requests and workers without limit.
            timeoutMS=timeout_ms,
            # j=true: the server acknowledges after its journal is on disk. MongoDB and
            # SecantusDB both honour it per write; without it a SIGKILLed SecantusDB drops its
            # last acknowledged writes (a ready image back to processing, an upload gone).
            w=1,
            journal=settings.journal,
            tz_aware=True,
        )
        try:
            yield cls(client, settings)
        finally:
            await client.close()

    async def ensure_indexes(self) -> None:
        """Create the indexes of :mod:`pipeline.adapters.indexes`, then bring documents an
        earlier version wrote up to date (:func:`~pipeline.adapters.migrate.migrate_catalog`)."""
        await indexes.ensure_indexes(self._db)
        await migrate_catalog(self._db)

    async def ping(self) -> None:
        with _translated("ping"):
            await self._client.admin.command("ping")

    # --- images ------------------------------------------------------------------------

    async def insert_image(self, record: ImageRecord) -> None:
        """Insert a new image under the tenant's next listing number (``seq``: the upload
        completed now) and count it in the tenant's usage; raise DuplicateImage when the
        tenant has this content already (its number is then left unused)."""
        seq = await self.tenants.take_seqs(record.tenant)
        doc = _document(record, seq)
        try:
            with _translated("insert image"):
                await self.images.insert_one(doc)
        except DuplicateKeyError:
            existing = await self.find_by_hash(record.tenant, record.sha256)
            if existing is None:  # deleted in between: the caller may simply try again
                raise
            raise DuplicateImage(existing, existing.id) from None
        await self.tenants.add_usage(record.tenant, 1, record.bytes)
        await self.timeline.mark(record.tenant, [doc["taken_key"]])

    async def insert_images(self, tenant: str, records: list[ImageRecord]) -> None:
        """Insert many new images of ``tenant`` at once, numbered in the given order and
        counted in its usage and albums: a bulk import (and the scale benchmark's seeding)
        in exactly :meth:`insert_image`'s shape. A duplicate raises CatalogError."""
        if not records:
            return
        first = await self.tenants.take_seqs(tenant, len(records))
        docs = [_document(r, first + i) for i, r in enumerate(records)]
        with _translated("insert images"):  # a duplicate is a BulkWriteError: CatalogError
            await self.images.insert_many(docs, ordered=False)
        await self.tenants.add_usage(tenant, len(records), sum(r.bytes for r in records))
        await self.timeline.mark(tenant, [doc["taken_key"] for doc in docs])
        members = Counter(album for r in records for album in r.albums)
        for album, count in members.items():
            await self.albums.count_members(tenant, [album], count)

    async def find_by_hash(self, tenant: str, sha256: str) -> ImageRecord | None:
        with _translated("find image"):
            doc = await self.images.find_one({"tenant": tenant, "sha256": sha256})
        return _record(doc)

    async def get_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        with _translated("get image"):
            doc = await self.images.find_one({"_id": image_id, "tenant": tenant})
        return _record(doc)

    async def list_images(
        self,
        tenant: str,
        *,
        limit: int,
        before: int | None = None,
        album: str | None = None,
        status: str | None = None,
        order: Order = "upload",
        where: ImageFilter | None = None,
    ) -> list[ImageRecord]:
        """A page of the tenant's images out of the trash. ``order="upload"``: newest
        completed first, ``before`` the previous page's last ``seq``; ``order="taken"``: the
        timeline, latest taken first, ``before`` the previous page's last ``taken_key``.
        ``album`` keeps only the images in that album, ``status`` those in that status,
        ``where`` those it matches.

        Read as ranges of the order's key below the cursor (:mod:`pipeline.adapters.windows`),
        each served by the index of its filter (``tenant[_albums|_status|_terms]_seq|taken``).
        Trashed photos and live photos' videos are dropped after the read: a ``trashed_at`` or
        ``motion_of`` term in the filter makes SecantusDB scan the collection
        (test_catalog_plans), and both are few.
        """
        query: Document = {"tenant": tenant}
        if album is not None:
            query["albums"] = album  # matches an element of the array
        if status is not None:
            query["status"] = status
        where = where or ImageFilter()
        terms = where.terms()
        if terms:
            # One term goes to the index (``$all`` makes SecantusDB scan the collection);
            # the rest are checked on what it reads, like the trash.
            query["terms"] = max(terms, key=_selectivity)
        low, high = where.key_range()

        def keep(doc: Document) -> bool:
            held = doc.get("terms") or []
            return (
                _listed(doc)
                and all(t in held for t in terms)
                and (not where.dated or where.admits(doc["taken_at"]))
            )

        found: list[Document] = []
        with _translated("list images"):
            if order == "taken":
                below = min(high, before) if before is not None else high
                # Day by day (adapters/timeline.py), each day from the tenant's top seq down.
                top = await self.tenants.top_seq(tenant)
                read: Reader = functools.partial(self.timeline.read, floor=low, top_seq=top)
            else:
                below = before if before is not None else await self.tenants.top_seq(tenant) + 1
                read = windows.newest
            key = "taken_key" if order == "taken" else "seq"
            while len(found) < limit:
                docs = await read(self.images, query, below=below, limit=limit - len(found))
                if not docs:
                    break
                found += [doc for doc in docs if keep(doc)]
                below = int(docs[-1][key])
        return [ImageRecord.model_validate(doc) for doc in found]

    async def list_trash(
        self, tenant: str, *, limit: int, before: int | None = None
    ) -> list[ImageRecord]:
        """The tenant's trash, newest completed first, ``seq`` below ``before``: the
        ``tenant_trashed_at`` index picks the trash (a few photos), sorted by ``seq``."""
        query: Document = {
            "tenant": tenant,
            "trashed_at": {"$gt": datetime.min.replace(tzinfo=UTC)},
        }
        if before is not None:
            query["seq"] = {"$lt": before}
        with _translated("list trash"):
            cursor = self.images.find(query).sort("seq", -1).limit(limit)
            return [ImageRecord.model_validate(doc) async for doc in cursor]

    async def claim(
        self, tenant: str, image_id: str, *, owner: str, lease: timedelta
    ) -> ImageRecord | None:
        """Take the image's lease for ``owner`` until now + ``lease``; None if not claimable.

        Claimable: ``queued``, ``processing`` with no lease (released after a retry), or
        ``processing`` under an expired lease, whose holder died mid-render: that takeover
        also counts a crash. A live lease, or a ready, failed or deleted image, is refused,
        so a republished job never renders an image twice at once. ``attempts`` counts claims.
        """
        now = utcnow()
        taken = {
            "status": "processing",
            "lease_owner": owner,
            "lease_expires_at": now + lease,
            "updated_at": now,
        }
        mine = {"_id": image_id, "tenant": tenant}
        # No top-level $or: SecantusDB scans the collection for one (6,230 ms at 100k
        # images against 1.9 ms). A queued image never holds a lease, so this is the same set.
        free = {**mine, "status": {"$in": ["queued", "processing"]}, "lease_owner": None}
        abandoned = {
            **mine,
            "status": "processing",
            "lease_owner": {"$ne": None},
            "lease_expires_at": {"$lt": now},
        }
        with _translated("claim image"):
            doc = await update_then_read(
                self.images, free, {"$set": taken, "$inc": {"attempts": 1}}
            )
            if doc is None:
                doc = await update_then_read(
                    self.images, abandoned, {"$set": taken, "$inc": {"attempts": 1, "crashes": 1}}
                )
        return _record(doc)

    async def renew(self, tenant: str, image_id: str, *, owner: str, lease: timedelta) -> bool:
        """Extend ``owner``'s lease to now + ``lease``; False if the lease is no longer theirs."""
        with _translated("renew lease"):
            result = await self.images.update_one(
                _held(tenant, image_id, owner), {"$set": {"lease_expires_at": utcnow() + lease}}
            )
        return bool(result.matched_count)

    async def release(
        self, tenant: str, image_id: str, *, owner: str, error: str, crashed: bool = False
    ) -> ImageRecord | None:
        """Give the lease back after a failed try (the image stays ``processing`` until the
        job's next delivery claims it); ``crashed`` counts a render process that died."""
        now = utcnow()
        with _translated("release lease"):
            doc = await update_then_read(
                self.images,
                _held(tenant, image_id, owner),
                {
                    "$set": {**_NO_LEASE, "lease_expires_at": now, "last_error": error},
                    "$inc": {"crashes": int(crashed)},
                },
            )
        return _record(doc)

    async def requeue_round(
        self, tenant: str, image_id: str, *, owner: str, error: str
    ) -> ImageRecord | None:
        """``processing -> queued`` after a round of retries ran out (``rounds`` + 1): the
        sweeper republishes it once the dependency is back."""
        with _translated("requeue image"):
            doc = await update_then_read(
                self.images,
                _held(tenant, image_id, owner),
                {
                    "$set": {
                        **_NO_LEASE,
                        "status": "queued",
                        "last_error": error,
                        "updated_at": utcnow(),
                    },
                    "$inc": {"rounds": 1},
                },
            )
        return _record(doc)

    async def mark_ready(
        self,
        tenant: str,
        image_id: str,
        ready: ReadyImage,
        *,
        owner: str | None = None,
        rerender: bool = False,
    ) -> ImageRecord | None:
        """``processing -> ready`` under ``owner``'s lease (released); with ``rerender``,
        replace the renditions of a ready image.

        A backfill's re-render keeps ``ready_at``: the photo was ready all along.
        """
        now = utcnow()
        fields: Document = {
            "status": "ready",
            **ready.model_dump(),
            "failure": None,
            "updated_at": now,
        }
        if not rerender:
            fields["ready_at"] = now
        if rerender:
            guard: Document = {"_id": image_id, "tenant": tenant, "status": "ready"}
        else:
            guard = _held(tenant, image_id, owner)
            fields.update(_NO_LEASE)
        with _translated("mark ready"):
            doc = await update_then_read(self.images, guard, {"$set": fields})
            record = _record(doc)
            if record is not None:
                # The metadata came with the render: the timeline and search fields follow it.
                mine = {"_id": image_id, "tenant": tenant}
                derived = record.search_fields()
                await self.images.update_one(mine, {"$set": derived})
                await self.timeline.mark(tenant, [derived["taken_key"]])
        return record

    async def mark_failed(
        self, tenant: str, image_id: str, reason: str, *, owner: str | None = None
    ) -> ImageRecord | None:
        """``queued|processing -> failed`` (only under ``owner``'s lease when given)."""
        guard: Document = (
            _held(tenant, image_id, owner)
            if owner is not None
            else {"_id": image_id, "tenant": tenant, "status": {"$in": ["queued", "processing"]}}
        )
        with _translated("mark failed"):
            doc = await update_then_read(
                self.images,
                guard,
                {
                    "$set": {
                        **_NO_LEASE,
                        "status": "failed",
                        "failure": reason,
                        "updated_at": utcnow(),
                    }
                },
            )
        return _record(doc)

    async def requeue(self, tenant: str, image_id: str) -> ImageRecord | None:
        """``failed -> queued`` for an operator's redrive, with every counter reset; None
        unless the image had failed."""
        fresh = {"status": "queued", "failure": None, "last_error": None, "updated_at": utcnow()}
        with _translated("requeue image"):
            doc = await update_then_read(
                self.images,
                {"_id": image_id, "tenant": tenant, "status": "failed"},
                {"$set": {**fresh, **_NO_LEASE, "attempts": 0, "crashes": 0, "rounds": 0}},
            )
        return _record(doc)

    async def delete_image(
        self, tenant: str, image_id: str, *, trashed_before: datetime | None = None
    ) -> ImageRecord | None:
        """Delete the document (with ``trashed_before``: only if it went into the trash
        before then, so a restore that raced the purge wins) and take it off its tenant's
        counters and, unless it was in the trash (it left them then), its albums'."""
        query: Document = {"_id": image_id, "tenant": tenant}
        if trashed_before is not None:
            query["trashed_at"] = {"$ne": None, "$lte": trashed_before}
        with _translated("delete image"):
            doc = await read_then_delete(self.images, query)
        record = _record(doc)
        if record is not None:
            await self.tenants.add_usage(tenant, -1, -record.bytes)
            if record.trashed_at is None:
                await self.albums.count_members(tenant, record.albums, -1)
        return record

    async def trash_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        """Into the trash (None when there is no such image out of the trash)."""
        return await self._set_trashed(tenant, image_id, {"trashed_at": None}, utcnow())

    async def restore_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        """Out of the trash (None when there is no such image in the trash)."""
        return await self._set_trashed(tenant, image_id, {"trashed_at": {"$ne": None}}, None)

    async def _set_trashed(
        self, tenant: str, image_id: str, guard: Document, value: datetime | None
    ) -> ImageRecord | None:
        with _translated("trash or restore image"):
            doc = await update_then_read(
                self.images,
                {"_id": image_id, "tenant": tenant, **guard},
                {"$set": {"trashed_at": value, "updated_at": utcnow()}},
            )
        record = _record(doc)
        if record is not None:
            # A trashed photo leaves its albums' counts (the quota's stay: it is still stored).
            await self.albums.count_members(tenant, record.albums, -1 if value else 1)
        return record

    async def trashed_before(self, cutoff: datetime, limit: int = 500) -> list[ImageRecord]:
        """Images of every tenant that went into the trash before ``cutoff`` (the purge
        sweeper's system query; served by the ``trashed_at`` index)."""
        query = {"trashed_at": {"$ne": None, "$lte": cutoff}}
        with _translated("find trash to purge"):
            cursor = self.images.find(query).sort("trashed_at", 1).limit(limit)
            return [ImageRecord.model_validate(doc) async for doc in cursor]

    async def stale_unfinished(self, older_than: timedelta, limit: int) -> list[ImageRecord]:
        """Images the sweeper must republish, across tenants: ``queued`` and untouched for
        ``older_than``, or ``processing`` under a lease expired for ``older_than``.

        The one query not scoped to a tenant: the sweeper is a system task and republishes
        jobs, it never returns image data to a client.
        """
        cutoff: datetime = utcnow() - older_than
        # Two queries, each a range of its index (status_updated, status_lease): a top-level
        # $or made SecantusDB scan every image every sweep (6,512 ms at 100k against 1.8 ms).
        queries: list[Document] = [
            {"status": "queued", "updated_at": {"$lt": cutoff}},
            {"status": "processing", "lease_expires_at": {"$lt": cutoff}},
        ]
        found: list[ImageRecord] = []
        with _translated("find stale images"):
            for query in queries:
                cursor = self.images.find(query).limit(limit - len(found))
                found.extend([ImageRecord.model_validate(doc) async for doc in cursor])
                if len(found) >= limit:
                    break
        return found

    async def queued_images(self, tenant: str, limit: int) -> list[ImageRecord]:
        """Up to ``limit`` of the tenant's ``queued`` images, oldest first (by ``seq``: when
        each was recorded), read as growing ``seq`` ranges of ``tenant_status_seq``."""
        query = {"tenant": tenant, "status": "queued"}
        with _translated("find queued images"):
            top = await self.tenants.top_seq(tenant)
            docs = await windows.oldest(self.images, query, upto=top, limit=limit)
        return [ImageRecord.model_validate(doc) for doc in docs]

    async def live_partners(self, tenant: str, content_identifier: str) -> list[ImageRecord]:
        """The tenant's ready images carrying ``content_identifier`` (a live photo's two
        halves; a handful at most), by the ``tenant_content_identifier`` index."""
        query = {"tenant": tenant, "metadata.content_identifier": content_identifier}
        with _translated("find live photo"):
            docs = [doc async for doc in self.images.find(query).limit(_PARTNERS)]
        records = [ImageRecord.model_validate(doc) for doc in docs]
        return [r for r in records if r.status == "ready"]

    async def link_motion(
        self, tenant: str, photo_id: str, video: ImageRecord, about: dict[str, Any]
    ) -> bool:
        """The photo first: a video hidden from the listing before its photo shows it would
        be lost from sight should the second write fail."""
        clip = video.renditions[VIDEO_PREVIEW]
        photo = {"_id": photo_id, "tenant": tenant, "status": "ready"}
        fields = {f"renditions.{MOTION}": clip.model_dump(), "metadata.motion": about}
        with _translated("link live photo"):
            done = await self.images.update_one(photo, {"$set": fields})
            if done.matched_count == 0:
                return False
            await self.images.update_one(
                {"_id": video.id, "tenant": tenant}, {"$set": {"motion_of": photo_id}}
            )
        return True

    async def unlink_motion(self, tenant: str, photo_id: str, video_id: str) -> None:
        photo = {"_id": photo_id, "tenant": tenant, "metadata.motion.video_id": video_id}
        gone = {f"renditions.{MOTION}": "", "metadata.motion": ""}
        with _translated("unlink live photo"):
            await self.images.update_one(photo, {"$unset": gone})

    async def touch(self, tenant: str, image_id: str) -> None:
        """Restart the sweeper's clock on an image it just republished."""
        now = utcnow()
        mine = {"_id": image_id, "tenant": tenant}
        with _translated("touch image"):
            await self.images.update_one(
                {**mine, "status": "queued"}, {"$set": {"updated_at": now}}
            )
            # An expired lease stays the dead holder's (the next claim counts the crash).
            await self.images.update_one(
                {**mine, "status": "processing", "lease_expires_at": {"$lt": now}},
                {"$set": {"lease_expires_at": now}},
            )

    # --- API keys (kept here for callers that hold the catalog; see adapters/keys.py) ----

    async def create_api_key(self, tenant: str, name: str = "default") -> str:
        """Create a key for ``tenant``; only its hash is stored, so show it to the user once."""
        return (await self.keys.create_key(tenant, name)).key

    async def tenant_for_key(self, key: str) -> str | None:
        """The tenant of a valid key; None for an unknown or revoked one."""
        return await self.keys.tenant_for_key(key)


async def issue_api_key(settings: MongoSettings, tenant: str, name: str) -> str:
    """Connect, make sure the indexes exist, create a key for ``tenant``: for CLIs and tools."""
    async with MongoCatalog.connect(settings) as catalog:
        await catalog.ensure_indexes()
        return await catalog.create_api_key(tenant, name)


_NO_LEASE: Document = {"lease_owner": None, "lease_expires_at": None}


def _held(tenant: str, image_id: str, owner: str | None) -> Document:
    """The filter of an image in ``processing`` under ``owner``'s lease."""
    return {"_id": image_id, "tenant": tenant, "status": "processing", "lease_owner": owner}


def _selectivity(term: str) -> tuple[bool, int]:
    """How rare a search term is likely to be: a word of the text before a facet (a camera
    make is shared by thousands of photos), a longer one before a shorter one."""
    return (":" not in term, len(term))


def _document(record: ImageRecord, seq: int) -> Document:
    """The document of a new image numbered ``seq``, with its timeline and search fields."""
    return {**record.to_document(), "seq": seq, **record.search_fields(seq)}


# Ready images one content identifier may name: a live photo is two; edits and re-saves a few.
_PARTNERS = 8


def _listed(doc: Document) -> bool:
    """Out of the trash, and not a live photo's video (shown through its photo, not as an
    item of its own)."""
    return doc.get("trashed_at") is None and doc.get("motion_of") is None


def _record(doc: Document | None) -> ImageRecord | None:
    return None if doc is None else ImageRecord.model_validate(doc)
