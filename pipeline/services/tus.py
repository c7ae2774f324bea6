"""Resumable uploads (tus 1.0: core, creation, termination, expiration, checksum).

Protocol: https://tus.io/protocols/resumable-upload. The upload's state lives in the
catalog (:class:`~pipeline.domain.uploads.UploadRecord`) and its bytes in the object store
(:mod:`pipeline.services.tus_writer`), so any gateway replica continues any upload. A PATCH
locks the upload at its offset (a lease renewed while it runs), appends, and records the
new state under that lock. The PATCH that completes the upload assembles the object and
hands it to :meth:`IngestService.adopt <pipeline.services.ingest.IngestService.adopt>`: the
full gate and the SHA-256 read it back, and it becomes an image like any other upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta

from pipeline.domain import names
from pipeline.domain.access import Principal
from pipeline.domain.errors import (
    ChecksumMismatch,
    EmptyUpload,
    ImageRejected,
    InputError,
    NotFound,
    OffsetMismatch,
    PatchTooSmall,
    UnsupportedMediaType,
    UploadExpired,
    UploadInterrupted,
    UploadLocked,
    UploadTimedOut,
    UploadTooLarge,
)
from pipeline.domain.messages import utcnow
from pipeline.domain.models import new_image_id
from pipeline.domain.objects import ObjectStore
from pipeline.domain.uploads import UploadRecord, new_upload_id
from pipeline.runtime.settings import LimitsSettings, TusSettings
from pipeline.services.access import AccessPolicy
from pipeline.services.albums import AlbumService
from pipeline.services.ingest import IngestService
from pipeline.services.ports import UploadCatalog
from pipeline.services.quota import TenantQuota
from pipeline.services.tus_check import HeadCheck
from pipeline.services.tus_writer import PatchWriter

log = logging.getLogger(__name__)


class UploadService:
    def __init__(
        self,
        uploads: UploadCatalog,
        store: ObjectStore,
        ingest: IngestService,
        limits: LimitsSettings,
        settings: TusSettings,
        *,
        albums: AlbumService | None = None,
        policy: AccessPolicy | None = None,
        quota: TenantQuota | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._policy = policy or AccessPolicy()
        self._albums = albums
        self._quota = quota
        self._uploads = uploads
        self._store = store
        self._ingest = ingest
        self._limits = limits
        self._settings = settings
        self._clock = clock

    def check_length(self, length: int) -> None:
        """EmptyUpload (0 bytes) or UploadTooLarge (over the largest upload of any type: the
        first PATCH's bytes hold it to its type's limit) for an ``Upload-Length`` in bytes;
        also the ``Expect: 100-continue`` answer of a creation."""
        if length <= 0:
            raise EmptyUpload("Upload-Length 0", public_message="the upload is empty")
        limit = self._limits.largest_upload_bytes
        if length > limit:
            raise UploadTooLarge(
                f"Upload-Length {length}",
                public_message=f"upload exceeds the limit of {limit} bytes",
            )

    async def create(
        self, who: Principal, length: int, *, filename: str | None = None, album: str | None = None
    ) -> UploadRecord:
        """Start an upload of ``length`` bytes, reserved against the tenant's quota until it
        completes or expires; raises EmptyUpload (0), UploadTooLarge, QuotaExceeded, or
        Forbidden without the ``upload`` scope."""
        tenant = self._policy.tenant(who, "upload")
        self.check_length(length)
        if album is not None and self._albums is not None:
            await self._albums.check(tenant, album)  # NotFound now, not after the upload
        image_id = new_image_id()
        record = UploadRecord(
            id=new_upload_id(),
            tenant=tenant,
            length=length,
            filename=filename,
            album=album,
            image_id=image_id,
            key=names.original_key(tenant, image_id),
            expires_at=self._expiry(),
        )
        if self._quota is not None:
            seconds = (record.expires_at - self._clock()).total_seconds()
            await self._quota.reserve(tenant, record.id, length, tus=True, seconds=seconds)
        try:
            await self._uploads.insert_upload(record)
        except BaseException:
            await self._release(record)
            raise
        return record

    async def get(self, who: Principal, upload_id: str) -> UploadRecord:
        """The upload; NotFound (also another tenant's), UploadExpired past its expiry."""
        return self._current(
            await self._uploads.get_upload(self._policy.tenant(who, "upload"), upload_id)
        )

    def _current(self, record: UploadRecord | None) -> UploadRecord:
        if record is None:
            raise NotFound("no such upload", public_message="no such upload")
        if record.state == "open" and record.expires_at <= self._clock():
            raise UploadExpired("upload expired", public_message="the upload has expired")
        return record

    async def append(
        self,
        who: Principal,
        upload_id: str,
        *,
        offset: int,
        chunks: AsyncIterator[bytes],
        checksum: bytes | None = None,
    ) -> UploadRecord:
        """Append a PATCH body at ``offset``; the new state (complete: ``image_id`` is set).

        ``checksum`` is the SHA-256 the body must have (tus checksum extension). Raises
        OffsetMismatch (409), UploadLocked (423), ChecksumMismatch (460, the body is
        discarded), NotFound, UploadExpired, and the gate's InputErrors (the upload is then
        terminated). A body cut short is kept up to where it stopped, unless it had a checksum.
        """
        tenant = self._policy.tenant(who, "upload")
        record = await self._lock(tenant, upload_id, offset)
        if record.state == "complete":
            return record
        token = record.lock or ""
        try:
            async with self._lease(record, token):
                old_tail = record.tail_keys
                if record.offset < record.length:
                    record = await self._write(record, token, chunks, checksum)
                if record.offset < record.length:
                    return await self._save(record, token, old_tail=old_tail)
                return await self._complete(record, token, old_tail)
        finally:
            # A no-op after a successful save; after a failure the client may retry at once.
            with contextlib.suppress(Exception):
                await self._uploads.release_lock(tenant, upload_id, token)

    async def check_append(self, who: Principal, upload_id: str, offset: int) -> None:
        """Whether a PATCH at ``offset`` would be taken, from the stored state alone (the
        answer to ``Expect: 100-continue`` before the body is sent). Raises NotFound,
        UploadExpired or OffsetMismatch; a lock held by another request is not checked (it may
        be gone by the time the body arrives)."""
        _check_offset(await self.get(who, upload_id), offset)

    async def terminate(self, who: Principal, upload_id: str) -> None:
        """tus termination: forget the upload and remove what it stored (not its image)."""
        record = await self._uploads.delete_upload(self._policy.tenant(who, "upload"), upload_id)
        if record is None:
            raise NotFound("no such upload", public_message="no such upload")
        await self._remove_objects(record)

    async def expire(self) -> int:
        """Remove uploads past their expiry and what they stored, ``sweep_batch`` at a time
        and at most ``sweep_max_per_pass`` (each removed one leaves the expired set, so the
        next sweep goes on with the rest); return how many."""
        batch, most = self._settings.sweep_batch, self._settings.sweep_max_per_pass
        removed = seen = 0
        while seen < most:
            limit = min(batch, most - seen)
            expired = await self._uploads.expired_uploads(self._clock(), limit)
            for record in expired:
                if await self._uploads.delete_upload(record.tenant, record.id) is None:
                    continue  # another sweeper got there first
                await self._remove_objects(record)
                removed += 1
            seen += len(expired)
            if len(expired) < limit:
                break
        if removed:
            log.info("tus: removed %d expired upload(s)", removed)
        return removed

    # --- steps -------------------------------------------------------------------------

    def _expiry(self) -> datetime:
        return self._clock() + timedelta(seconds=self._settings.expire_seconds)

    async def _lock(self, tenant: str, upload_id: str, offset: int) -> UploadRecord:
        now = self._clock()
        until = now + timedelta(seconds=self._settings.lock_seconds)
        token = secrets.token_hex(8)
        locked = await self._uploads.lock_upload(
            tenant, upload_id, offset=offset, token=token, until=until, now=now
        )
        if locked is not None:
            return locked
        record = self._current(await self._uploads.get_upload(tenant, upload_id))
        _check_offset(record, offset)
        if record.state == "complete":
            return record
        raise UploadLocked("upload locked", public_message="another request is writing to it")

    @contextlib.asynccontextmanager
    async def _lease(self, record: UploadRecord, token: str) -> AsyncIterator[None]:
        """Renew the lock while the PATCH runs, so only a crashed gateway's lock lapses."""

        async def renew() -> None:
            seconds = self._settings.lock_seconds
            while True:
                await asyncio.sleep(seconds / 3)
                until = self._clock() + timedelta(seconds=seconds)
                await self._uploads.renew_lock(record.tenant, record.id, token, until)

        renewer = asyncio.create_task(renew())
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewer

    async def _write(
        self,
        record: UploadRecord,
        token: str,
        chunks: AsyncIterator[bytes],
        checksum: bytes | None,
    ) -> UploadRecord:
        writer = PatchWriter(self._store, record, part_bytes=self._settings.part_bytes, token=token)
        check = HeadCheck(
            self._limits, length=record.length, active=record.offset == 0 and record.mime is None
        )
        try:
            await writer.start()
            await self._receive(writer, check, chunks, checksum)
            check.finish()
            self._check_patch_size(writer)
            updated = await writer.finish()
        except (UnsupportedMediaType, ImageRejected):
            await writer.discard()
            await self._refuse(record)  # the header check said no: the whole upload goes
            raise
        except BaseException:
            await writer.discard()
            raise
        return updated.model_copy(update={"mime": check.mime or record.mime, "lock": None})

    def _check_patch_size(self, writer: PatchWriter) -> None:
        """PatchTooSmall (400) for a PATCH under the minimum that does not end the upload:
        many tiny PATCHes would cost a catalog write and a tail segment each."""
        least = self._settings.min_patch_bytes
        if 0 < writer.received < least and writer.offset < writer.length:
            raise PatchTooSmall(
                f"PATCH of {writer.received} bytes",
                public_message=f"a PATCH must carry at least {least} bytes unless it "
                "completes the upload; its bytes were discarded",
            )

    async def _receive(
        self,
        writer: PatchWriter,
        check: HeadCheck,
        chunks: AsyncIterator[bytes],
        checksum: bytes | None,
    ) -> None:
        digest = hashlib.sha256() if checksum is not None else None
        try:
            async with asyncio.timeout(self._limits.upload_timeout_seconds):
                async for chunk in chunks:
                    check.feed(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    await writer.feed(chunk)
        except UploadInterrupted:
            if digest is not None:
                raise  # a partial body cannot match its checksum: discard it
            # Otherwise keep what arrived, as tusd does: the client resumes from there.
        except TimeoutError as exc:
            if digest is not None:
                raise UploadTimedOut(
                    "PATCH too slow", public_message="the PATCH body did not arrive in time"
                ) from exc
        if digest is not None and digest.digest() != checksum:
            raise ChecksumMismatch(
                "checksum mismatch",
                public_message="the body does not match Upload-Checksum; it was discarded",
            )

    async def _save(
        self, record: UploadRecord, token: str, *, old_tail: tuple[str, ...] = ()
    ) -> UploadRecord:
        """Record ``record`` while ``token`` holds the lock; then drop the tail segments that
        went into a part."""
        if not await self._uploads.save_upload(record, token):
            raise UploadLocked("lock lost", public_message="another request took over the upload")
        for key in set(old_tail) - set(record.tail_keys):
            await self._store.delete(key)
        return record

    async def _complete(
        self, record: UploadRecord, token: str, old_tail: tuple[str, ...]
    ) -> UploadRecord:
        # Assembled: record offset == length first, keeping the lock, so a retry after a
        # failure below only adopts again and never assembles twice.
        record = await self._save(
            record.model_copy(update={"lock": token}), token, old_tail=old_tail
        )
        try:
            ingested = await self._ingest.adopt(
                record.tenant, key=record.key, image_id=record.image_id, filename=record.filename
            )
        except InputError:
            await self._uploads.delete_upload(record.tenant, record.id)
            await self._release(record)
            raise
        await self._release(record)  # the image counts now
        await self._file_in_album(record, ingested.record.id)
        done = record.model_copy(
            update={
                "state": "complete",
                "image_id": ingested.record.id,
                "duplicate": ingested.duplicate,
                "lock": None,
                "lock_until": None,
            }
        )
        return await self._save(done, token)

    async def _file_in_album(self, record: UploadRecord, image_id: str) -> None:
        """Put the image in the album its metadata named; an album deleted meanwhile is logged."""
        if record.album is None or self._albums is None:
            return
        try:
            await self._albums.file_image(record.tenant, record.album, image_id)
        except NotFound:
            log.info(
                "tus: album %s of upload %s is gone; image %s stays",
                record.album,
                record.id,
                image_id,
            )

    async def _refuse(self, record: UploadRecord) -> None:
        if await self._uploads.delete_upload(record.tenant, record.id) is not None:
            await self._remove_objects(record)

    async def _release(self, record: UploadRecord) -> None:
        if self._quota is not None:
            await self._quota.release(record.id)

    async def _remove_objects(self, record: UploadRecord) -> None:
        await self._release(record)
        if record.state == "complete":
            return  # the object is the image's original now
        if record.multipart_id is not None:
            await self._store.abort_multipart(record.key, record.multipart_id)
        await self._store.delete_prefix(names.upload_prefix(record.tenant, record.id))


def _check_offset(record: UploadRecord, offset: int) -> None:
    """OffsetMismatch (409) unless ``offset`` is where the upload stands (tus core, PATCH)."""
    if record.offset != offset:
        raise OffsetMismatch(
            f"offset {offset} != {record.offset}",
            public_message=f"Upload-Offset is {record.offset}, not {offset}",
        )
