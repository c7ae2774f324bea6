"""``POST /v1/images``: stream an upload into storage, record it, publish the render job.

The body is never held whole in memory: the first ``probe_bytes`` are buffered to sniff the
type and read the header (so bombs and non-images are refused before anything is stored),
then everything streams into the object store while being hashed and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from aiohttp.client_exceptions import ClientPayloadError

from gateway.images import image_json
from gateway.keys import BACKENDS, SETTINGS, TENANT_KEY
from pipeline.domain import names
from pipeline.domain.errors import (
    BusError,
    DuplicateImage,
    EmptyUpload,
    GatewayBusy,
    InputError,
    UndecodableImage,
    UnsupportedMediaType,
    UploadInterrupted,
    UploadTimedOut,
    UploadTooLarge,
)
from pipeline.domain.messages import ImageEvent
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.imaging.probe import ImageHeader, probe_header
from pipeline.imaging.sniff import sniff_mime
from pipeline.runtime import metrics
from pipeline.runtime.settings import LimitsSettings

log = logging.getLogger(__name__)
READ_CHUNK = 256 * 1024


@dataclass
class CountingBody:
    """Wraps the body's chunks: counts and hashes them, enforces the byte limit."""

    source: AsyncIterator[bytes]
    max_bytes: int
    size: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    head: bytes = b""
    exhausted: bool = False

    def _take(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise UploadTooLarge(
                f"upload exceeds {self.max_bytes} bytes",
                public_message=f"upload exceeds the limit of {self.max_bytes} bytes",
            )
        self.sha256.update(chunk)
        return chunk

    async def read_head(self, wanted: int) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < wanted:
            chunk = await anext(self.source, None)
            if chunk is None:
                self.exhausted = True
                break
            parts.append(self._take(chunk))
            got += len(chunk)
        self.head = b"".join(parts)
        return self.head

    async def all_chunks(self) -> AsyncIterator[bytes]:
        if self.head:
            yield self.head
        if self.exhausted:
            return
        async for chunk in self.source:
            yield self._take(chunk)


async def _raw_chunks(request: web.Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            yield chunk
    except (ClientPayloadError, ConnectionError) as exc:
        raise UploadInterrupted(
            f"body incomplete: {exc}", public_message="upload interrupted"
        ) from exc


async def _part_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    try:
        while chunk := await part.read_chunk(READ_CHUNK):
            yield chunk
    except (ClientPayloadError, ConnectionError, ValueError) as exc:
        raise UploadInterrupted(
            f"multipart body incomplete: {exc}", public_message="upload interrupted"
        ) from exc


async def _body(request: web.Request) -> tuple[AsyncIterator[bytes], str | None]:
    """The upload's bytes and file name: a raw body, or the first file part of a multipart form."""
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.filename is not None:
                return _part_chunks(part), part.filename
            if isinstance(part, BodyPartReader):
                await part.release()
        raise InputError(
            "multipart body has no file part", public_message="no file part in the form"
        )
    return _raw_chunks(request), request.query.get("filename")


def _check_declared_length(request: web.Request, limits: LimitsSettings) -> None:
    if (
        request.content_length is not None
        and request.content_length > limits.max_upload_bytes + 64 * 1024
    ):
        # Refuse before reading a byte; the 64 KiB allows for multipart framing.
        raise UploadTooLarge(
            "declared Content-Length over the limit",
            public_message=f"upload exceeds the limit of {limits.max_upload_bytes} bytes",
        )


def _probe(head: bytes, complete: bool, limits: LimitsSettings) -> ImageHeader:
    if not head:
        raise EmptyUpload("empty body", public_message="the upload is empty")
    if sniff_mime(head) is None:
        raise UnsupportedMediaType(
            "unknown magic bytes",
            public_message="not a supported image (JPEG, PNG, GIF, WebP, AVIF, HEIC, TIFF)",
        )
    try:
        return probe_header(head, limits, complete=complete)
    except UndecodableImage as exc:
        if complete:
            raise
        # Only the first probe_bytes were read: say so, it may be the limit, not the file.
        raise UndecodableImage(
            str(exc),
            public_message=f"{exc.public_message} within its first {limits.probe_bytes} bytes"
            " (the gateway's header probe limit)",
        ) from exc


class UploadSlots:
    """Bounds the uploads one process receives at once: each holds up to one S3 part."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    @contextlib.contextmanager
    def take(self) -> Iterator[None]:
        if self.in_use >= self.limit:
            metrics.UPLOADS.labels(outcome=GatewayBusy.code).inc()
            raise GatewayBusy(
                "upload slots full",
                public_message=f"this gateway is receiving {self.limit} uploads; retry shortly",
            )
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1


UPLOAD_SLOTS = web.AppKey("upload_slots", UploadSlots)


async def post_image(request: web.Request) -> web.Response:
    with request.app[UPLOAD_SLOTS].take():
        return await _ingest(request)


async def _ingest(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    backends = request.app[BACKENDS]
    tenant: str = request[TENANT_KEY]
    limits = settings.limits
    deadline = asyncio.timeout(limits.upload_timeout_seconds)
    try:
        _check_declared_length(request, limits)
        async with deadline:
            source, filename = await _body(request)
            body = CountingBody(source, limits.max_upload_bytes)
            head = await body.read_head(limits.probe_bytes)
            # Chunks may overshoot probe_bytes; the probe sees exactly the configured limit.
            probed = head[: limits.probe_bytes]
            header = _probe(probed, body.exhausted and len(probed) == len(head), limits)
            image_id = new_image_id()
            key = names.original_key(tenant, image_id)
            # A timeout cancels put_stream, which aborts the multipart upload: nothing stays.
            await backends.store.put_stream(key, body.all_chunks(), content_type=header.mime)
    except TimeoutError as exc:
        if not deadline.expired():
            raise  # a storage timeout: the error middleware answers 503
        metrics.UPLOADS.labels(outcome=UploadTimedOut.code).inc()
        raise UploadTimedOut(
            "upload timed out",
            public_message=f"the upload did not arrive within {limits.upload_timeout_seconds:g} s",
        ) from exc
    except InputError as exc:
        metrics.UPLOADS.labels(outcome=exc.code).inc()
        raise
    record = ImageRecord(
        id=image_id,
        tenant=tenant,
        status="queued",
        sha256=body.sha256.hexdigest(),
        content_type=header.mime,
        bytes=body.size,
        width=header.width,
        height=header.height,
        frames=header.frames,
        filename=filename,
        original_key=key,
    )
    try:
        await backends.catalog.insert_image(record)
    except DuplicateImage as dup:
        await backends.store.delete(key)
        metrics.UPLOADS.labels(outcome="duplicate").inc()
        return web.json_response(
            image_json(dup.existing), status=200, headers={"X-Gallery-Duplicate": "true"}
        )
    except BaseException:
        await backends.store.delete(key)
        raise
    metrics.UPLOADS.labels(outcome="accepted").inc()
    metrics.UPLOAD_BYTES.inc(record.bytes)
    metrics.UPLOAD_SIZE.observe(record.bytes)
    await _publish(request, record)
    return web.json_response(
        image_json(record), status=202, headers={"Location": f"/v1/images/{record.id}"}
    )


async def _publish(request: web.Request, record: ImageRecord) -> None:
    """Publish the job; on failure the outbox sweeper republishes it, so the upload stands."""
    bus = request.app[BACKENDS].bus
    try:
        await bus.publish_job(record.render_job())
    except BusError as exc:
        log.warning("publish for %s failed, the outbox sweeper will retry: %s", record.id, exc)
        return
    await bus.publish_event(ImageEvent(type="uploaded", image_id=record.id, tenant=record.tenant))
