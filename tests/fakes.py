"""In-memory fakes of the services' ports, for the services unit tests.

Each is typed against its protocol in :mod:`pipeline.services.ports` (mypy checks the
assignments at the bottom) and keeps the adapters' observable rules: the catalog's guarded
status transitions and tenant+SHA-256 uniqueness, the store's missing-key errors. A test
breaks a backend by setting ``fail_with`` to the error the adapter would raise.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Sequence,
)
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.domain.access import DEFAULT_SCOPES, Principal, Scope
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import (
    AlbumExists,
    BusError,
    DuplicateImage,
    ObjectNotFound,
    PipelineError,
)
from pipeline.domain.keys import ApiKeyInfo, NewApiKey, hash_api_key, key_id_of
from pipeline.domain.messages import (
    CleanupJob,
    Event,
    ImageEvent,
    RenderJob,
    StoredDeadLetter,
    StreamedEvent,
    utcnow,
)
from pipeline.domain.models import (
    MOTION,
    VIDEO_PREVIEW,
    ImageRecord,
    ReadyImage,
    Status,
    TenantCounts,
    WalkPosition,
)
from pipeline.domain.objects import ObjectInfo, ObjectStore, StoredObject
from pipeline.domain.search import ImageFilter, Order
from pipeline.domain.shares import ShareRecord
from pipeline.domain.uploads import UploadRecord
from pipeline.domain.usage import StoredFigures
from pipeline.imaging.render import RenderedRendition, RenderResult
from pipeline.imaging.spec import RenditionSpec
from pipeline.services import ports


def key_principal(tenant: str, *scopes: Scope, key: str | None = None) -> Principal:
    """A tenant's API key ``key`` (the default scopes unless ``scopes`` are given), as the
    gateway resolves it."""
    return Principal.key(tenant, key or f"key-of-{tenant}", scopes or DEFAULT_SCOPES)


_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


def _expired(record: ImageRecord, now: datetime) -> bool:
    return record.lease_expires_at is not None and record.lease_expires_at < now


class FakeCatalog:
    def __init__(self) -> None:
        self.images: dict[str, ImageRecord] = {}
        self.seqs: dict[str, int] = {}  # the last listing number given out, per tenant

    def _guarded(
        self, tenant: str, image_id: str, statuses: Sequence[Status], **update: Any
    ) -> ImageRecord | None:
        record = self.images.get(image_id)
        if record is None or record.tenant != tenant or record.status not in statuses:
            return None
        updated = record.model_copy(update={"updated_at": utcnow(), **update})
        self.images[image_id] = updated
        return updated

    async def insert_image(self, record: ImageRecord) -> None:
        for existing in self.images.values():
            if (existing.tenant, existing.sha256) == (record.tenant, record.sha256):
                raise DuplicateImage(existing, existing.id)
        self.seqs[record.tenant] = seq = self.seqs.get(record.tenant, 0) + 1
        self.images[record.id] = record.model_copy(update={"seq": seq})

    async def get_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        record = self.images.get(image_id)
        return record if record is not None and record.tenant == tenant else None

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
        where = where or ImageFilter()

        def key(r: ImageRecord) -> int:
            return int(r.search_fields()["taken_key"]) if order == "taken" else r.seq

        found = [
            r
            for r in self.images.values()
            if r.tenant == tenant
            and r.motion_of is None
            and (before is None or key(r) < before)
            and (album is None or album in r.albums)
            and (status is None or r.status == status)
            and set(where.terms()) <= set(r.search_fields()["terms"])
            and where.admits(r.search_fields()["taken_at"])
            and r.trashed_at is None
        ]
        shown = sorted(found, key=key, reverse=True)[:limit]
        return [r.model_copy(update={"taken_key": r.search_fields()["taken_key"]}) for r in shown]

    async def list_trash(
        self, tenant: str, *, limit: int, before: int | None = None
    ) -> list[ImageRecord]:
        found = [
            r
            for r in self.images.values()
            if r.tenant == tenant
            and r.trashed_at is not None
            and (before is None or r.seq < before)
        ]
        return sorted(found, key=lambda r: r.seq, reverse=True)[:limit]

    def _held(self, tenant: str, image_id: str, owner: str | None) -> ImageRecord | None:
        record = self.images.get(image_id)
        if record is None or record.tenant != tenant or record.status != "processing":
            return None
        return record if record.lease_owner == owner else None

    def _update(self, record: ImageRecord, **update: Any) -> ImageRecord:
        updated = record.model_copy(update={"updated_at": utcnow(), **update})
        self.images[record.id] = updated
        return updated

    async def claim(
        self, tenant: str, image_id: str, *, owner: str, lease: timedelta
    ) -> ImageRecord | None:
        record = await self.get_image(tenant, image_id)
        if record is None or record.status not in ("queued", "processing"):
            return None
        now = utcnow()
        held = record.status == "processing" and record.lease_owner is not None
        expired = record.lease_expires_at is not None and record.lease_expires_at < now
        if held and not expired:
            return None  # a live lease: someone is rendering it
        return self._update(
            record,
            status="processing",
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=record.attempts + 1,
            crashes=record.crashes + int(held),
        )

    async def renew(self, tenant: str, image_id: str, *, owner: str, lease: timedelta) -> bool:
        record = self._held(tenant, image_id, owner)
        if record is not None:
            self.images[image_id] = record.model_copy(update={"lease_expires_at": utcnow() + lease})
        return record is not None

    async def release(
        self, tenant: str, image_id: str, *, owner: str, error: str, crashed: bool = False
    ) -> ImageRecord | None:
        record = self._held(tenant, image_id, owner)
        if record is None:
            return None
        return self._update(
            record,
            lease_owner=None,
            lease_expires_at=utcnow(),
            last_error=error,
            crashes=record.crashes + int(crashed),
        )

    async def requeue_round(
        self, tenant: str, image_id: str, *, owner: str, error: str
    ) -> ImageRecord | None:
        record = self._held(tenant, image_id, owner)
        if record is None:
            return None
        return self._update(
            record, **_NO_LEASE, status="queued", last_error=error, rounds=record.rounds + 1
        )

    async def mark_ready(
        self,
        tenant: str,
        image_id: str,
        ready: ReadyImage,
        *,
        owner: str | None = None,
        rerender: bool = False,
    ) -> ImageRecord | None:
        fields: dict[str, Any] = {"status": "ready", **dict(ready), "failure": None}
        if rerender:
            return self._guarded(tenant, image_id, ("ready",), **fields)
        record = self._held(tenant, image_id, owner)
        if record is None:
            return None
        return self._update(record, **fields, **_NO_LEASE, ready_at=utcnow())

    async def mark_failed(
        self, tenant: str, image_id: str, reason: str, *, owner: str | None = None
    ) -> ImageRecord | None:
        fields: dict[str, Any] = {**_NO_LEASE, "status": "failed", "failure": reason}
        if owner is None:
            return self._guarded(tenant, image_id, ("queued", "processing"), **fields)
        record = self._held(tenant, image_id, owner)
        return None if record is None else self._update(record, **fields)

    async def requeue(self, tenant: str, image_id: str) -> ImageRecord | None:
        return self._guarded(
            tenant,
            image_id,
            ("failed",),
            **_NO_LEASE,
            status="queued",
            failure=None,
            last_error=None,
            attempts=0,
            crashes=0,
            rounds=0,
        )

    async def live_partners(self, tenant: str, content_identifier: str) -> list[ImageRecord]:
        return [
            r
            for r in self.images.values()
            if r.tenant == tenant
            and r.status == "ready"
            and r.metadata.get("content_identifier") == content_identifier
        ]

    async def link_motion(
        self, tenant: str, photo_id: str, video: ImageRecord, about: dict[str, Any]
    ) -> bool:
        photo = await self.get_image(tenant, photo_id)
        if photo is None or photo.status != "ready":
            return False
        renditions = {**photo.renditions, MOTION: video.renditions[VIDEO_PREVIEW]}
        self._update(photo, renditions=renditions, metadata={**photo.metadata, "motion": about})
        self.images[video.id] = video.model_copy(update={"motion_of": photo_id})
        return True

    async def unlink_motion(self, tenant: str, photo_id: str, video_id: str) -> None:
        photo = await self.get_image(tenant, photo_id)
        about = photo.metadata.get("motion") if photo is not None else None
        if photo is None or not isinstance(about, dict) or about.get("video_id") != video_id:
            return
        renditions = {k: v for k, v in photo.renditions.items() if k != MOTION}
        metadata = {k: v for k, v in photo.metadata.items() if k != "motion"}
        self._update(photo, renditions=renditions, metadata=metadata)

    async def delete_image(
        self, tenant: str, image_id: str, *, trashed_before: datetime | None = None
    ) -> ImageRecord | None:
        record = await self.get_image(tenant, image_id)
        if record is None or (
            trashed_before is not None
            and (record.trashed_at is None or record.trashed_at > trashed_before)
        ):
            return None
        del self.images[image_id]
        return record

    async def trash_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        record = await self.get_image(tenant, image_id)
        if record is None or record.trashed_at is not None:
            return None
        return self._update(record, trashed_at=utcnow())

    async def restore_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        record = await self.get_image(tenant, image_id)
        if record is None or record.trashed_at is None:
            return None
        return self._update(record, trashed_at=None)

    async def trashed_before(self, cutoff: datetime, limit: int = 500) -> list[ImageRecord]:
        found = [r for r in self.images.values() if r.trashed_at and r.trashed_at <= cutoff]
        return sorted(found, key=lambda r: r.trashed_at or cutoff)[:limit]

    async def stale_unfinished(self, older_than: timedelta, limit: int) -> list[ImageRecord]:
        cutoff = utcnow() - older_than

        def stale(r: ImageRecord) -> bool:
            if r.status == "queued":
                return r.updated_at < cutoff
            expiry = r.lease_expires_at
            return r.status == "processing" and expiry is not None and expiry < cutoff

        return [r for r in self.images.values() if stale(r)][:limit]

    async def queued_images(self, tenant: str, limit: int) -> list[ImageRecord]:
        mine = [r for r in self.images.values() if r.tenant == tenant and r.status == "queued"]
        return sorted(mine, key=lambda r: r.seq)[:limit]

    async def touch(self, tenant: str, image_id: str) -> None:
        record = await self.get_image(tenant, image_id)
        now = utcnow()
        if record is not None and record.status == "queued":
            self._update(record)
        elif record is not None and record.status == "processing" and _expired(record, now):
            self.images[image_id] = record.model_copy(update={"lease_expires_at": now})


@dataclass
class FakeImageScan:
    """Reconcile's and backfill's view of a :class:`FakeCatalog`: by tenant and ``seq``.
    ``counters``: a tenant's maintained counters where a test drifted them."""

    catalog: FakeCatalog
    counters: dict[str, TenantCounts] = field(default_factory=dict)

    async def scan_images(
        self, *, after: WalkPosition | None, limit: int
    ) -> tuple[list[ImageRecord], WalkPosition | None]:
        # As the catalog walks: one tenant at a time, an empty batch at each tenant's end
        # pointing at the next tenant's start.
        images = self.catalog.images.values()
        if after is None:
            after = WalkPosition("", 0)
        mine = sorted(
            (r for r in images if r.tenant == after.tenant and r.seq > after.seq),
            key=lambda r: r.seq,
        )
        if not mine:
            following = sorted({r.tenant for r in images if r.tenant > after.tenant})
            return [], WalkPosition(following[0], 0) if following else None
        batch = mine[:limit]
        return batch, WalkPosition(after.tenant, batch[-1].seq)

    async def count_images(self) -> int:
        return len(self.catalog.images)

    async def tenant_counts(self, tenant: str) -> TenantCounts:
        if tenant in self.counters:
            return copy.deepcopy(self.counters[tenant])
        truth = TenantCounts()  # the fake catalog counts its images: never drifted
        for record in self.catalog.images.values():
            if record.tenant == tenant:
                truth.add(record)
        return truth

    async def repair_counts(self, tenant: str, seen: TenantCounts, counted: TenantCounts) -> int:
        if tenant in self.counters and self.counters[tenant] != seen:
            return 1
        self.counters[tenant] = copy.deepcopy(counted)
        return 0

    async def fail_lost(
        self, tenant: str, image_id: str, reason: str, *, unchanged_since: datetime
    ) -> ImageRecord | None:
        record = await self.catalog.get_image(tenant, image_id)
        if record is None or record.status == "failed" or record.updated_at > unchanged_since:
            return None
        update = {**_NO_LEASE, "status": "failed", "failure": reason}
        return self.catalog._update(record, **update)


@dataclass
class FakeBacklog:
    """The render backlog of a :class:`FakeCatalog`: its queued images by media."""

    catalog: FakeCatalog

    async def queued_by_media(self) -> dict[str, int]:
        queued = [r.media for r in self.catalog.images.values() if r.status == "queued"]
        return {"photo": queued.count("photo"), "video": queued.count("video")}


class FakeAlbums:
    """Albums over a :class:`FakeCatalog`: membership lives on its image records."""

    def __init__(self, catalog: FakeCatalog) -> None:
        self.catalog = catalog
        self.albums: dict[str, AlbumRecord] = {}
        self.deleting: list[tuple[str, str]] = []  # deleted, still on images: taken off later

    async def insert_album(self, record: AlbumRecord) -> None:
        self._refuse_twin(record.tenant, record.name, record.id)
        self.albums[record.id] = record

    def _refuse_twin(self, tenant: str, name: str, album_id: str) -> None:
        """The unique ``tenant_name`` index of the real catalog."""
        for other in self.albums.values():
            if (other.tenant, other.name) == (tenant, name) and other.id != album_id:
                raise AlbumExists(name, other.id)

    async def get_album(self, tenant: str, album_id: str) -> AlbumRecord | None:
        record = self.albums.get(album_id)
        return record if record is not None and record.tenant == tenant else None

    async def list_albums(
        self, tenant: str, *, limit: int, before: str | None = None
    ) -> list[AlbumRecord]:
        mine = [a for a in self.albums.values() if a.tenant == tenant]
        page = [a for a in mine if before is None or a.id < before]
        return sorted(page, key=lambda a: a.id, reverse=True)[:limit]

    async def rename_album(self, tenant: str, album_id: str, name: str) -> AlbumRecord | None:
        record = await self.get_album(tenant, album_id)
        if record is None:
            return None
        self._refuse_twin(tenant, name, album_id)
        self.albums[album_id] = record.model_copy(update={"name": name, "updated_at": utcnow()})
        return self.albums[album_id]

    async def delete_album(self, tenant: str, album_id: str) -> AlbumRecord | None:
        record = await self.get_album(tenant, album_id)
        if record is not None:  # as the catalog: gone now, off its images by the sweeper
            del self.albums[album_id]
            self.deleting.append((tenant, album_id))
        return record

    async def finish_deletes(self, *, batch: int, most: int) -> int:
        done = 0
        for tenant, album_id in list(self.deleting):
            done += await self.take_off(tenant, album_id, batch=batch, most=most - done)
            if done >= most:
                break
        return done

    async def take_off(self, tenant: str, album_id: str, *, batch: int, most: int) -> int:
        held = [i for i in self.catalog.images.values() if album_id in i.albums]
        taken = held[:most]
        for image in taken:
            self._set_albums(image, [a for a in image.albums if a != album_id])
        if len(taken) == len(held) and (tenant, album_id) in self.deleting:
            self.deleting.remove((tenant, album_id))
        return len(taken)

    def _set_albums(self, image: ImageRecord, albums: list[str]) -> None:
        self.catalog.images[image.id] = image.model_copy(update={"albums": albums})

    async def add_to_album(self, tenant: str, album_id: str, image_id: str) -> bool | None:
        image = await self.catalog.get_image(tenant, image_id)
        if image is None:
            return None
        if album_id in image.albums:
            return False
        self._set_albums(image, [*image.albums, album_id])
        return True

    async def remove_from_album(self, tenant: str, album_id: str, image_id: str) -> bool:
        image = await self.catalog.get_image(tenant, image_id)
        if image is None or album_id not in image.albums:
            return False
        self._set_albums(image, [a for a in image.albums if a != album_id])
        return True

    async def album_stats(self, tenant: str, album_id: str) -> tuple[int, str | None]:
        members = sorted(
            (
                r
                for r in self.catalog.images.values()
                if r.tenant == tenant and album_id in r.albums and r.trashed_at is None
            ),
            key=lambda r: r.seq,
        )
        return len(members), (members[-1].id if members else None)


@dataclass
class FakeObjectStore:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    fail_with: PipelineError | None = None
    multipart: dict[str, dict[int, tuple[str, bytes]]] = field(default_factory=dict)
    completed: list[str] = field(default_factory=list)
    # Last-modified time per key (set on every write; a test backdates it to age an object).
    modified: dict[str, datetime] = field(default_factory=dict)

    def _stored(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)
        self.modified[key] = utcnow()

    async def check(self) -> None:
        self._check()

    async def stat(self, key: str) -> ObjectInfo:
        self._check()
        if key not in self.objects:
            raise ObjectNotFound(key)
        data, content_type = self.objects[key]
        return ObjectInfo(key, len(data), content_type, hashlib.md5(data).hexdigest())

    async def presigned_get(
        self,
        key: str,
        expires_seconds: int | None = None,
        *,
        content_type: str | None = None,
        disposition: str | None = None,
    ) -> str | None:
        return None  # like the filesystem store: the gateway streams the bytes itself

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        self._check()
        data = b"".join([chunk async for chunk in chunks])
        self._stored(key, data, content_type)
        return len(data)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        self._check()
        self._stored(key, data, content_type)

    async def get_bytes(self, key: str) -> bytes:
        self._check()
        if key not in self.objects:
            raise ObjectNotFound(f"no object {key}")
        return self.objects[key][0]

    async def delete(self, key: str) -> None:
        self._check()
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        self._check()
        keys = await self.list_keys(prefix)
        for key in keys:
            del self.objects[key]
        return len(keys)

    async def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    async def list_objects(self, prefix: str) -> list[StoredObject]:
        self._check()
        return [
            StoredObject(key, len(self.objects[key][0]), self.modified.get(key, utcnow()))
            for key in await self.list_keys(prefix)
        ]

    async def stream(
        self, key: str, chunk_size: int = 65536, *, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        data = (await self.get_bytes(key))[start:end]
        for offset in range(0, len(data), chunk_size):
            yield data[offset : offset + chunk_size]

    # Multipart uploads: parts per upload id, joined on completion (S3's rules kept: a part
    # but the last under 5 MiB, or an unknown ETag, fails the completion).
    async def create_multipart(self, key: str, *, content_type: str) -> str:
        self._check()
        upload_id = f"mp{len(self.multipart) + len(self.completed) + 1}"
        self.multipart[upload_id] = {}
        return upload_id

    async def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        self._check()
        if upload_id not in self.multipart:
            raise ObjectNotFound(f"no multipart upload {upload_id}")
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        self.multipart[upload_id][number] = (etag, data)
        return etag

    async def complete_multipart(
        self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        self._check()
        stored = self.multipart.pop(upload_id)
        chosen = [stored[n] for n, _ in parts]
        assert [etag for etag, _ in chosen] == [etag for _, etag in parts], "InvalidPart"
        assert all(len(data) >= 5 * 1024 * 1024 for _, data in chosen[:-1]), "EntityTooSmall"
        self._stored(key, b"".join(data for _, data in chosen), "application/octet-stream")
        self.completed.append(upload_id)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self.multipart.pop(upload_id, None)


class FakeUploadCatalog:
    """Upload records with the adapter's lock rule (open, unexpired, at offset, lock free)."""

    def __init__(self) -> None:
        self.uploads: dict[str, UploadRecord] = {}

    async def insert_upload(self, record: UploadRecord) -> None:
        self.uploads[record.id] = record

    async def get_upload(self, tenant: str, upload_id: str) -> UploadRecord | None:
        record = self.uploads.get(upload_id)
        return record if record is not None and record.tenant == tenant else None

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
        record = await self.get_upload(tenant, upload_id)
        free = record is not None and (record.lock is None or (record.lock_until or now) < now)
        if record is None or not free or record.state != "open" or record.offset != offset:
            return None
        if record.expires_at <= now:
            return None
        locked = record.model_copy(update={"lock": token, "lock_until": until})
        self.uploads[upload_id] = locked
        return locked

    async def renew_lock(self, tenant: str, upload_id: str, token: str, until: datetime) -> bool:
        record = await self.get_upload(tenant, upload_id)
        if record is None or record.lock != token:
            return False
        self.uploads[upload_id] = record.model_copy(update={"lock_until": until})
        return True

    async def save_upload(self, record: UploadRecord, token: str) -> bool:
        current = await self.get_upload(record.tenant, record.id)
        if current is None or current.lock != token:
            return False
        self.uploads[record.id] = record
        return True

    async def release_lock(self, tenant: str, upload_id: str, token: str) -> None:
        record = await self.get_upload(tenant, upload_id)
        if record is not None and record.lock == token:
            self.uploads[upload_id] = record.model_copy(update={"lock": None, "lock_until": None})

    async def delete_upload(self, tenant: str, upload_id: str) -> UploadRecord | None:
        record = await self.get_upload(tenant, upload_id)
        if record is not None:
            del self.uploads[upload_id]
        return record

    async def expired_uploads(self, now: datetime, limit: int) -> list[UploadRecord]:
        return [r for r in self.uploads.values() if r.expires_at < now][:limit]

    async def open_upload_keys(self) -> set[str]:
        return {r.key for r in self.uploads.values() if r.state == "open"}


@dataclass
class FakeUsageCatalog:
    """Rate counters per (counter, window), a tenant's usage from a FakeCatalog, reservations
    by holder and quota locks by tenant."""

    catalog: FakeCatalog
    windows: dict[tuple[str, int], int] = field(default_factory=dict)
    reservations: dict[str, tuple[str, int, str, datetime]] = field(default_factory=dict)
    locks: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    async def count(
        self, counter: str, window: int, expires_at: datetime, amounts: dict[str, int]
    ) -> dict[str, int]:
        counts = {}
        for field_name, amount in amounts.items():
            name = f"{counter}:{field_name}"
            self.windows[name, window] = self.windows.get((name, window), 0) + amount
            counts[field_name] = self.windows[name, window]
        return counts

    async def tenant_usage(self, tenant: str) -> tuple[int, int]:
        mine = [r for r in self.catalog.images.values() if r.tenant == tenant]
        return len(mine), sum(r.bytes for r in mine)

    async def stored(self, tenant: str) -> tuple[StoredFigures, StoredFigures]:
        def figures(trashed: bool) -> StoredFigures:
            mine = [
                r
                for r in self.catalog.images.values()
                if r.tenant == tenant and (r.trashed_at is not None) == trashed
            ]
            renditions = sum(x.bytes for r in mine for x in r.renditions.values())
            return StoredFigures(len(mine), sum(r.bytes for r in mine), renditions)

        return figures(False), figures(True)

    async def reserved(self, tenant: str, now: datetime) -> tuple[int, int, int]:
        live = [r for r in self.reservations.values() if r[0] == tenant and r[3] > now]
        return len(live), sum(r[1] for r in live), sum(1 for r in live if r[2] == "tus")

    async def reserve(
        self, tenant: str, holder: str, size: int, kind: str, expires_at: datetime
    ) -> None:
        self.reservations[holder] = (tenant, size, kind, expires_at)

    async def release(self, holder: str) -> None:
        self.reservations.pop(holder, None)

    async def lock_tenant(self, tenant: str, token: str, until: datetime, now: datetime) -> bool:
        held = self.locks.get(tenant)
        if held is not None and held[1] > now:
            return False
        self.locks[tenant] = (token, until)
        return True

    async def unlock_tenant(self, tenant: str, token: str) -> None:
        if self.locks.get(tenant, ("", None))[0] == token:
            del self.locks[tenant]


@dataclass
class FakeBus:
    jobs: list[RenderJob] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    letters: list[StoredDeadLetter] = field(default_factory=list)
    cleanups: list[CleanupJob] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    down: bool = False

    async def publish_cleanup(self, job: CleanupJob) -> None:
        if self.down:
            raise BusError("bus is down")
        self.cleanups.append(job)

    async def publish_job(self, job: RenderJob) -> bool:
        if self.down:
            raise BusError("bus is down")
        self.jobs.append(job)
        return True

    async def publish_event(self, event: Event) -> None:
        if not self.down:  # events are best effort, as on the real bus
            self.events.append(event)

    async def dead_letters(self, limit: int = 1000) -> list[StoredDeadLetter]:
        return self.letters[:limit]

    async def remove_dead_letter(self, seq: int) -> None:
        self.letters = [s for s in self.letters if s.seq != seq]

    async def publish_key_revoked(self, key_hash: str) -> None:
        if not self.down:
            self.revoked.append(key_hash)

    def event_types(self, image_id: str) -> list[str]:
        return [e.type for e in self.events if isinstance(e, ImageEvent) and e.image_id == image_id]


class FakeApiKeys:
    """Keys by hash, as the catalog keeps them; ``revoke_key`` keeps the first revocation."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKeyInfo] = {}

    async def create_key(
        self,
        tenant: str,
        name: str = "default",
        scopes: frozenset[Scope] = DEFAULT_SCOPES,
        expires_at: datetime | None = None,
    ) -> NewApiKey:
        key = f"gk_{len(self.keys)}_{tenant}"
        digest = hash_api_key(key)
        info = ApiKeyInfo(
            key_id_of(digest), tenant, name, utcnow(), None, digest, scopes, expires_at
        )
        self.keys[digest] = info
        return NewApiKey(key, info)

    async def use_key(self, key_hash: str) -> ApiKeyInfo | None:
        info = self.keys.get(key_hash)
        if info is None or info.revoked_at is not None:
            return None
        info = self.keys[key_hash] = replace(info, last_used_at=utcnow())
        return info

    async def list_keys(self, tenant: str | None = None) -> list[ApiKeyInfo]:
        return [k for k in self.keys.values() if tenant is None or k.tenant == tenant]

    async def revoke_key(self, key_id: str) -> ApiKeyInfo | None:
        info = next((k for k in self.keys.values() if k.id == key_id), None)
        if info is not None and info.revoked_at is None:
            info = self.keys[info.key_hash] = replace(info, revoked_at=utcnow())
        return info


class FakeShares:
    """Share links by id; found by token hash like the catalog's unique index."""

    def __init__(self) -> None:
        self.shares: dict[str, ShareRecord] = {}

    async def insert_share(self, record: ShareRecord) -> None:
        self.shares[record.id] = record

    async def find_share(self, token_hash: str) -> ShareRecord | None:
        return next((s for s in self.shares.values() if s.token_hash == token_hash), None)

    async def list_shares(
        self, tenant: str, *, limit: int, before: str | None = None
    ) -> list[ShareRecord]:
        found = [
            s for s in self.shares.values() if s.tenant == tenant and (not before or s.id < before)
        ]
        return sorted(found, key=lambda s: s.id, reverse=True)[:limit]

    async def revoke_share(self, tenant: str, share_id: str) -> ShareRecord | None:
        record = self.shares.get(share_id)
        if record is None or record.tenant != tenant:
            return None
        if record.revoked_at is None:
            record = self.shares[share_id] = record.model_copy(update={"revoked_at": utcnow()})
        return record

    async def count_use(self, share_id: str) -> None:
        record = self.shares[share_id]
        self.shares[share_id] = record.model_copy(
            update={"uses": record.uses + 1, "last_used_at": utcnow()}
        )


@dataclass
class FakeEventLog:
    """The events stream: ``append`` gives each event the next sequence. ``during_replay``
    runs after each replayed event (to publish live events while a replay is under way)."""

    events: list[StreamedEvent] = field(default_factory=list)
    during_replay: Callable[[StreamedEvent], Awaitable[None]] | None = None
    fail_with: PipelineError | None = None

    def append(self, event: Event) -> StreamedEvent:
        item = StreamedEvent(len(self.events) + 1, event)
        self.events.append(item)
        return item

    async def last_sequence(self) -> int:
        if self.fail_with is not None:
            raise self.fail_with
        return len(self.events)

    async def replay_events(self, tenant: str, after: int) -> AsyncIterator[StreamedEvent]:
        if self.fail_with is not None:
            raise self.fail_with
        end = len(self.events)  # up to the end of the log when called, as on the bus
        for item in self.events[after:end]:
            if item.event.tenant == tenant:
                yield item
                if self.during_replay is not None:
                    await self.during_replay(item)


@dataclass
class FakeRenderer:
    """Renders every spec entry as a few fixed bytes; ``during`` runs while it "renders"."""

    spec: Sequence[RenditionSpec]
    fail_with: PipelineError | None = None
    during: Callable[[], Awaitable[None]] | None = None
    calls: int = 0
    originals: list[Path] = field(default_factory=list)  # the spool files it was given
    contents: list[bytes] = field(default_factory=list)  # what they held at the time
    timeouts: list[float | None] = field(default_factory=list)  # each call's deadline

    async def render(self, original: Path, *, timeout_seconds: float | None = None) -> RenderResult:
        self.calls += 1
        self.timeouts.append(timeout_seconds)
        self.originals.append(original)
        self.contents.append(original.read_bytes())  # noqa: ASYNC240 - a fake: tiny files
        if self.during is not None:
            await self.during()
        if self.fail_with is not None:
            raise self.fail_with
        return RenderResult(
            width=640,
            height=480,
            frames=1,
            metadata={},
            thumbhash="AAAA",
            renditions=tuple(_rendered(s) for s in self.spec),
            decode_seconds=0.0,
        )


def _rendered(spec: RenditionSpec) -> RenderedRendition:
    return RenderedRendition(
        name=spec.name,
        spec_hash=spec.spec_hash,
        data=f"{spec.name}-{spec.spec_hash}".encode(),
        width=spec.width,
        height=spec.height,
        extension=spec.format,
        content_type=f"image/{spec.format}",
        seconds=0.0,
    )


# mypy checks that each fake satisfies its port.
_catalog: ports.Catalog = FakeCatalog()
_albums: ports.Albums = FakeAlbums(FakeCatalog())
_store: ObjectStore = FakeObjectStore()
_bus: ports.Bus = FakeBus()
_cleanup_bus: ports.CleanupPublisher = FakeBus()
_scan: ports.ImageScan = FakeImageScan(FakeCatalog())
_backlog: ports.Backlog = FakeBacklog(FakeCatalog())
_uploads: ports.UploadCatalog = FakeUploadCatalog()
_usage: ports.UsageCatalog = FakeUsageCatalog(FakeCatalog())
_renderer: ports.Renderer = FakeRenderer(spec=())
_log: ports.EventLog = FakeEventLog()
_keys: ports.ApiKeys = FakeApiKeys()
_revocations: ports.KeyRevocations = FakeBus()
_shares: ports.Shares = FakeShares()
