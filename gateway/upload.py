"""``POST /v1/images``: stream the body into the ingest service and answer with the image.

The handler only turns the HTTP body (raw ``image/*`` or the first file part of a form)
into chunks and a file name, bounds the uploads this process receives at once, and shapes
the JSON; :class:`pipeline.services.ingest.IngestService` does the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

from aiohttp import BodyPartReader, web
from aiohttp.client_exceptions import ClientPayloadError

from gateway.images import image_json
from gateway.keys import INGEST, TENANT_KEY
from pipeline.domain.errors import GatewayBusy, InputError, UploadInterrupted
from pipeline.runtime import metrics

READ_CHUNK = 256 * 1024


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
    async def open_body() -> tuple[AsyncIterator[bytes], str | None]:
        return await _body(request)

    with request.app[UPLOAD_SLOTS].take():
        ingested = await request.app[INGEST].ingest(
            request[TENANT_KEY], open_body, declared_bytes=request.content_length
        )
    record = ingested.record
    if ingested.duplicate:
        return web.json_response(
            image_json(record), status=200, headers={"X-Gallery-Duplicate": "true"}
        )
    return web.json_response(
        image_json(record), status=202, headers={"Location": f"/v1/images/{record.id}"}
    )


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
