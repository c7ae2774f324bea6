"""``POST /v1/images``: stream the body into the ingest service and answer with the image.

The handler only turns the HTTP body (raw ``image/*`` or the first file part of a form)
into chunks and a file name, bounds the uploads this process receives at once, and shapes
the JSON; :class:`pipeline.services.ingest.IngestService` does the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import BodyPartReader, HttpVersion11, hdrs, web
from aiohttp.client_exceptions import ClientPayloadError
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from gateway.appkeys import INGEST, LIMITS, PRINCIPAL, SETTINGS, UPLOAD_SHARE
from gateway.auth import principal_of
from gateway.edge import paced
from gateway.forms import file_part
from gateway.images import image_json
from gateway.middleware import refusal
from pipeline.domain.access import Principal
from pipeline.domain.errors import (
    MalformedRequest,
    PipelineError,
    UploadInterrupted,
)
from pipeline.domain.filenames import clean_filename
from pipeline.services.ingest import check_declared_length
from pipeline.services.quota import PostReservation

READ_CHUNK = 256 * 1024
#: A POST's quota reservation outlives its upload time limit by this much (a crashed
#: gateway's reservation then lapses by itself).
RESERVATION_MARGIN_SECONDS = 60.0


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` (RFC 9110 section 10.1.1): refuse before the body is sent.

    When the key is unknown or missing (401) or may not upload (403), the declared
    ``Content-Length`` is over the upload limit (413) or this gateway is full (503), answer
    that final status at once,
    without ``100 Continue``, so a client does not send 500 MB for nothing. Otherwise send
    ``100 Continue`` and let the request go on through the middlewares as usual.
    """
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        return None  # an expectation we do not know: ignore it (RFC 9110 allows that)
    try:
        who = await principal_of(request)
        request.app[LIMITS].check_scope(who)
        check_declared_length(
            request.content_length, request.app[SETTINGS].limits.largest_upload_bytes
        )
        check_slots(request, who)
    except PipelineError as exc:
        return refusal(request, exc)
    await send_continue(request)
    return None


async def send_continue(request: web.Request) -> None:
    """The interim ``100 Continue`` (HTTP/1.1 only: an HTTP/1.0 client never waits for it)."""
    if request.version >= HttpVersion11:
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")


def check_slots(request: web.Request, who: Principal) -> None:
    """ShareExhausted (429) when the caller's key or tenant holds its share of this gateway's
    upload slots, GatewayBusy (503) when every slot is taken."""
    request.app[UPLOAD_SHARE].check(who.tenant, who.id)


async def post_image(request: web.Request) -> web.Response:
    who, declared = request[PRINCIPAL], request.content_length
    limits = request.app[LIMITS]
    tenant = await limits.admit(who, declared, body_bytes=declared)
    hold = request.app[SETTINGS].limits.upload_timeout_seconds + RESERVATION_MARGIN_SECONDS
    with request.app[UPLOAD_SHARE].take(tenant, who.id):
        async with limits.quota.held(tenant, declared or 0, seconds=hold) as reservation:

            async def open_body() -> tuple[AsyncIterator[bytes], str | None]:
                chunks, filename = await _body(request)
                return _reserved(chunks, reservation), filename

            ingested = await request.app[INGEST].ingest(tenant, open_body, declared_bytes=declared)
    if declared is None:  # chunked: its bytes count once known, against the next request
        await limits.count_bytes(who.id, ingested.record.bytes)
    record = ingested.record
    if ingested.duplicate:
        return web.json_response(
            image_json(record), status=200, headers={"X-Gallery-Duplicate": "true"}
        )
    return web.json_response(
        image_json(record), status=202, headers={"Location": f"/v1/images/{record.id}"}
    )


async def _reserved(
    chunks: AsyncIterator[bytes], reservation: PostReservation
) -> AsyncIterator[bytes]:
    """The chunks, each held against the tenant's byte quota before it is passed on: a
    chunked body (no Content-Length to reserve up front) cannot store past the quota."""
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        await reservation.cover(received)
        yield chunk


async def _body(request: web.Request) -> tuple[AsyncIterator[bytes], str | None]:
    """The upload's bytes and file name: a raw body, or the first file part of a multipart form."""
    if request.content_type.startswith("multipart/"):
        part, filename = await file_part(request)
        return _part_chunks(request, part), filename
    return raw_chunks(request), clean_filename(request.query.get("filename"))


async def raw_chunks(request: web.Request) -> AsyncIterator[bytes]:
    try:
        edge = request.app[SETTINGS].edge
        async for chunk in paced(request.content.iter_chunked(READ_CHUNK), edge):
            yield chunk
    except (HttpProcessingError, RequestPayloadError) as exc:
        raise _bad_framing(exc) from exc
    except (ClientPayloadError, ConnectionError) as exc:
        raise UploadInterrupted(
            f"body incomplete: {exc}", public_message="upload interrupted"
        ) from exc


async def _part_chunks(request: web.Request, part: BodyPartReader) -> AsyncIterator[bytes]:
    try:
        async for chunk in paced(_read_part(part), request.app[SETTINGS].edge):
            yield chunk
    except (HttpProcessingError, RequestPayloadError) as exc:
        raise _bad_framing(exc) from exc
    except (ClientPayloadError, ConnectionError, ValueError) as exc:
        raise UploadInterrupted(
            f"multipart body incomplete: {exc}", public_message="upload interrupted"
        ) from exc


async def _read_part(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(READ_CHUNK):
        yield chunk


def _bad_framing(exc: Exception) -> MalformedRequest:
    return MalformedRequest(
        f"body framing: {exc}",
        public_message="malformed request body (invalid chunked transfer encoding)",
    )
