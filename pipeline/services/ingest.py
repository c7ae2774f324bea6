"""Ingest: one upload in; the original stored, the image recorded, its render job published.

Steps: refuse a declared size over the limit; open the body (inside the upload deadline);
let the gate admit it; stream it into the store while counting and hashing; record the
image (the same tenant and SHA-256 is the same image: the duplicate's stored copy is
removed); publish the job and the ``uploaded`` event. A refused or failed upload leaves
nothing stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from pipeline.domain import names
from pipeline.domain.errors import (
    BusError,
    DuplicateImage,
    InputError,
    UploadTimedOut,
    UploadTooLarge,
)
from pipeline.domain.messages import ImageEvent
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.domain.objects import ObjectStore
from pipeline.imaging.scan import ImageHeader
from pipeline.runtime import metrics
from pipeline.runtime.settings import LimitsSettings
from pipeline.services.gate import CountedBody, IngestGate, ScanningGate
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)

# Multipart framing around the file part may add this much to a declared Content-Length.
FRAMING_ALLOWANCE = 64 * 1024


def check_declared_length(declared_bytes: int | None, limit: int) -> None:
    """UploadTooLarge (413) when a declared body length is over ``limit`` bytes (plus framing).

    The one rule for a declared length: the ingest service refuses before reading a byte,
    and the gateway answers ``Expect: 100-continue`` with it before the body is sent.
    """
    if declared_bytes is not None and declared_bytes > limit + FRAMING_ALLOWANCE:
        raise UploadTooLarge(
            "declared Content-Length over the limit",
            public_message=f"upload exceeds the limit of {limit} bytes",
        )


BodyOpener = Callable[[], Awaitable[tuple[AsyncIterator[bytes], str | None]]]
"""Starts reading an upload: returns its chunks and file name (a form is read up to its
file part). Awaited inside the upload deadline, so a client slow to send even that times out."""


@dataclass(frozen=True)
class Ingested:
    """The image the upload became; ``duplicate`` when the tenant already had these bytes."""

    record: ImageRecord
    duplicate: bool = False


@dataclass(frozen=True)
class _Stored:
    key: str
    image_id: str
    header: ImageHeader
    body: CountedBody
    filename: str | None


class IngestService:
    def __init__(
        self,
        catalog: Catalog,
        store: ObjectStore,
        bus: Bus,
        limits: LimitsSettings,
        gate: IngestGate | None = None,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._bus = bus
        self._limits = limits
        self._gate = gate or ScanningGate(limits)

    async def ingest(
        self, tenant: str, open_body: BodyOpener, *, declared_bytes: int | None = None
    ) -> Ingested:
        """Raises :class:`InputError` subclasses (nothing stored) and dependency errors."""
        try:
            stored = await self._store_original(tenant, open_body, declared_bytes)
        except InputError as exc:
            metrics.UPLOADS.labels(outcome=exc.code).inc()
            raise
        return await self._record(tenant, stored)

    async def adopt(
        self, tenant: str, *, key: str, image_id: str, filename: str | None
    ) -> Ingested:
        """An original already assembled in the store (a finished resumable upload) becomes
        an image: the gate and the SHA-256 read it back from ``key``, then it is recorded and
        published like any upload (same de-duplication).

        Raises :class:`InputError` subclasses after deleting the object, and dependency errors.
        """
        try:
            header, body = await self._scan_stored(key)
        except InputError as exc:
            metrics.UPLOADS.labels(outcome=exc.code).inc()
            await self._store.delete(key)
            raise
        return await self._record(tenant, _Stored(key, image_id, header, body, filename))

    async def _scan_stored(self, key: str) -> tuple[ImageHeader, CountedBody]:
        # aclosing: a refusal from the first bytes must not leave the S3 body open.
        async with contextlib.aclosing(self._store.stream(key)) as source:
            body = CountedBody(source, self._limits.largest_upload_bytes)
            admitted = await self._gate.admit(body.chunks())
            async for _ in admitted.chunks:
                pass  # the gate and the hash see every byte; nothing is written
            return admitted.verdict(), body

    async def _store_original(
        self, tenant: str, open_body: BodyOpener, declared_bytes: int | None
    ) -> _Stored:
        limits = self._limits
        deadline = asyncio.timeout(limits.upload_timeout_seconds)
        try:
            check_declared_length(declared_bytes, limits.max_upload_bytes)
            async with deadline:
                return await self._stream_in(tenant, open_body)
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # a storage timeout: a dependency error, answered 503
            raise UploadTimedOut(
                "upload timed out",
                public_message="the upload did not arrive within "
                f"{limits.upload_timeout_seconds:g} s",
            ) from exc

    async def _stream_in(self, tenant: str, open_body: BodyOpener) -> _Stored:
        source, filename = await open_body()
        body = CountedBody(source, self._limits.largest_upload_bytes)
        admitted = await self._gate.admit(body.chunks())
        image_id = new_image_id()
        key = names.original_key(tenant, image_id)
        # A timeout cancels put_stream, which aborts the multipart upload: nothing stays.
        await self._store.put_stream(key, admitted.chunks, content_type=admitted.mime)
        try:
            header = admitted.verdict()
        except BaseException:
            await self._store.delete(key)
            raise
        return _Stored(key, image_id, header, body, filename)

    async def _record(self, tenant: str, stored: _Stored) -> Ingested:
        record = _new_record(tenant, stored)
        try:
            await self._catalog.insert_image(record)
        except DuplicateImage as dup:
            await self._store.delete(stored.key)
            metrics.UPLOADS.labels(outcome="duplicate").inc()
            return Ingested(await self._restored(dup.existing), duplicate=True)
        except BaseException:
            await self._store.delete(stored.key)
            raise
        metrics.UPLOADS.labels(outcome="accepted").inc()
        metrics.UPLOAD_BYTES.inc(record.bytes)
        metrics.UPLOAD_SIZE.observe(record.bytes)
        await self._publish(record)
        return Ingested(record)

    async def _restored(self, existing: ImageRecord) -> ImageRecord:
        """The same bytes again while their photo is in the trash: the photo comes back
        (rather than a second one beside it)."""
        if existing.trashed_at is None:
            return existing
        restored = await self._catalog.restore_image(existing.tenant, existing.id)
        if restored is None:  # someone restored it meanwhile (or it was purged this instant)
            return await self._catalog.get_image(existing.tenant, existing.id) or existing
        await self._bus.publish_event(
            ImageEvent(type="restored", image_id=restored.id, tenant=restored.tenant)
        )
        return restored

    async def _publish(self, record: ImageRecord) -> None:
        """Publish the job; on failure the outbox republishes it, so the upload stands."""
        try:
            if not await self._bus.publish_job(record.render_job()):
                # The tenant's share of the render stream is full: the image waits in the
                # catalog until one of the tenant's jobs finishes (refill) or the sweeper.
                log.info("job for %s held back: its tenant's share is queued", record.id)
        except BusError as exc:
            log.warning("publish for %s failed, the outbox sweeper will retry: %s", record.id, exc)
            return
        await self._bus.publish_event(
            ImageEvent(type="uploaded", image_id=record.id, tenant=record.tenant)
        )


def _new_record(tenant: str, stored: _Stored) -> ImageRecord:
    header = stored.header
    return ImageRecord(
        id=stored.image_id,
        tenant=tenant,
        status="queued",
        sha256=stored.body.sha256.hexdigest(),
        content_type=header.mime,
        bytes=stored.body.size,
        width=header.width,
        height=header.height,
        frames=header.frames,
        duration_seconds=header.video.duration_seconds if header.video else None,
        filename=stored.filename,
        original_key=stored.key,
    )
