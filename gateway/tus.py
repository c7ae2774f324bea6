"""tus 1.0 resumable uploads at ``/v1/uploads`` (https://tus.io/protocols/resumable-upload).

Core (HEAD, PATCH, OPTIONS) plus the creation, creation-with-upload, termination, expiration
and checksum (sha256) extensions. The routes parse and write tus headers only;
:class:`pipeline.services.tus.UploadService` does the rest. A completed upload's PATCH (and
HEAD) carries ``Gallery-Image-Id`` and, for bytes the tenant had already, ``Gallery-Duplicate``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC
from email.utils import format_datetime

from aiohttp import hdrs, web

from gateway.appkeys import LIMITS, PRINCIPAL, SETTINGS, UPLOAD_SHARE, UPLOADS
from gateway.auth import principal_of
from gateway.middleware import Handler, refusal
from gateway.upload import check_slots, raw_chunks, send_continue
from pipeline.domain.errors import (
    InputError,
    PipelineError,
    UnsupportedChecksum,
    UnsupportedMediaType,
    UnsupportedTusVersion,
)
from pipeline.domain.filenames import clean_filename
from pipeline.domain.numbers import parse_number
from pipeline.domain.uploads import UploadRecord

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
OFFSET_STREAM = "application/offset+octet-stream"
PREFIX = "/v1/uploads"
_EXPOSED = (
    "Location, Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Tus-Resumable, "
    "Tus-Version, Tus-Extension, Tus-Max-Size, Gallery-Image-Id, Gallery-Duplicate"
)


@web.middleware
async def tus_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every tus answer (errors too) names the protocol version; requests must name it."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        response: web.StreamResponse = web.json_response(
            {"error": {"code": UnsupportedTusVersion.code, "message": "send Tus-Resumable: 1.0.0"}},
            status=UnsupportedTusVersion.http_status,
        )
    else:
        response = await handler(request)
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers.setdefault("Tus-Version", TUS_VERSION)
    response.headers["Access-Control-Expose-Headers"] = _EXPOSED
    return response


async def options(request: web.Request) -> web.Response:
    limits = request.app[SETTINGS].limits
    return web.Response(
        status=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(limits.largest_upload_bytes),
            "Tus-Checksum-Algorithm": "sha256",
        },
    )


async def create(request: web.Request) -> web.Response:
    """creation (+ creation-with-upload when the POST carries a body)."""
    length = _int_header(request, "Upload-Length")
    meta = _metadata(request.headers.get("Upload-Metadata", ""))
    # The same rule as a POST's name (folders and control characters dropped, Latin-1
    # bytes decoded): a name is the same whichever way it arrives.
    filename = clean_filename(meta.get("filename"))
    album = _text(meta, "album")
    _checksum(request.headers.get("Upload-Checksum"))  # a bad one is refused before creating
    await request.app[LIMITS].admit(request[PRINCIPAL], length)
    service = request.app[UPLOADS]
    record = await service.create(request[PRINCIPAL], length, filename=filename, album=album)
    if request.content_type == OFFSET_STREAM and request.body_exists:
        record = await _append(request, record.id, 0)
    headers = _state_headers(record)
    headers["Location"] = f"{PREFIX}/{record.id}"
    return web.Response(status=201, headers=headers)


async def head(request: web.Request) -> web.Response:
    record = await request.app[UPLOADS].get(request[PRINCIPAL], request.match_info["upload_id"])
    headers = _state_headers(record)
    headers["Upload-Length"] = str(record.length)
    headers["Cache-Control"] = "no-store"
    if record.filename is not None:
        encoded = base64.b64encode(record.filename.encode()).decode()
        headers["Upload-Metadata"] = f"filename {encoded}"
    return web.Response(status=200, headers=headers)


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """``Expect: 100-continue`` on a creation or PATCH (RFC 9110 section 10.1.1).

    What the headers and the stored state already decide is answered before the body is sent,
    without ``100 Continue``: an unknown key (401), a missing ``Tus-Resumable`` (412), a PATCH
    that is not an offset stream (415), a key that may not upload (403), a bad
    ``Upload-Offset`` (400), an unknown or expired upload (404/410), an offset that is not the
    upload's (409), an ``Upload-Length`` of 0 or over the limit (400/413) and a full gateway
    (503). Otherwise ``100 Continue``, and the
    request goes on through the middlewares as usual. Per-key rate limits and quotas are
    decided there, once (deciding them here too would count the request twice).
    """
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        return None  # an expectation we do not know: ignore it (RFC 9110 allows that)
    try:
        if request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise UnsupportedTusVersion(
                "no Tus-Resumable", public_message="send Tus-Resumable: 1.0.0"
            )
        who = await principal_of(request)
        if request.method == "PATCH":
            _check_offset_stream(request)
            offset = _int_header(request, "Upload-Offset")
            await request.app[UPLOADS].check_append(who, request.match_info["upload_id"], offset)
        else:
            request.app[LIMITS].check_scope(who)
            request.app[UPLOADS].check_length(_int_header(request, "Upload-Length"))
        check_slots(request, who)
    except PipelineError as exc:
        response = refusal(request, exc)
        response.headers["Tus-Resumable"] = TUS_VERSION
        response.headers["Access-Control-Expose-Headers"] = _EXPOSED
        return response
    await send_continue(request)
    return None


async def patch(request: web.Request) -> web.Response:
    _check_offset_stream(request)
    offset = _int_header(request, "Upload-Offset")
    record = await _append(request, request.match_info["upload_id"], offset)
    return web.Response(status=204, headers=_state_headers(record))


async def terminate(request: web.Request) -> web.Response:
    await request.app[UPLOADS].terminate(request[PRINCIPAL], request.match_info["upload_id"])
    return web.Response(status=204)


async def _append(request: web.Request, upload_id: str, offset: int) -> UploadRecord:
    """One PATCH (or creation) body: counted in the key's rates, within its upload share."""
    checksum = _checksum(request.headers.get("Upload-Checksum"))
    limits, who = request.app[LIMITS], request[PRINCIPAL]
    await limits.admit_patch(who.id, request.content_length)
    chunks: AsyncIterator[bytes] = raw_chunks(request)
    with request.app[UPLOAD_SHARE].take(who.tenant, who.id):
        record = await request.app[UPLOADS].append(
            who, upload_id, offset=offset, chunks=chunks, checksum=checksum
        )
    if request.content_length is None:  # chunked: counted once received
        await limits.count_bytes(who.id, record.offset - offset)
    return record


def _state_headers(record: UploadRecord) -> dict[str, str]:
    headers = {"Upload-Offset": str(record.offset)}
    if record.state == "complete":
        headers["Gallery-Image-Id"] = record.image_id
        if record.duplicate:
            headers["Gallery-Duplicate"] = "true"
    else:
        headers["Upload-Expires"] = format_datetime(record.expires_at.astimezone(UTC), usegmt=True)
    return headers


def _check_offset_stream(request: web.Request) -> None:
    if request.content_type != OFFSET_STREAM:
        raise UnsupportedMediaType(
            "PATCH without offset stream", public_message=f"Content-Type must be {OFFSET_STREAM}"
        )


def _int_header(request: web.Request, name: str) -> int:
    return parse_number(request.headers.get(name), name)


def _metadata(header: str) -> dict[str, bytes]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (value optional); the
    values as the bytes the client encoded (tus does not say which encoding they are in)."""
    pairs: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in header.split(","))):
        key, _, value = item.partition(" ")
        if not (key.isascii() and key.isprintable()):  # tus: keys are ASCII, no spaces or commas
            raise InputError(
                "bad Upload-Metadata key", public_message="Upload-Metadata keys must be ASCII"
            )
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            raise InputError(
                "bad Upload-Metadata", public_message=f"Upload-Metadata {key!r} is not base64"
            ) from None
    return pairs


def _text(meta: dict[str, bytes], key: str) -> str | None:
    """A metadata value that must be UTF-8 text (an id), or InputError (400) naming it."""
    value = meta.get(key)
    try:
        return None if value is None else value.decode()
    except UnicodeDecodeError:
        raise InputError(
            f"Upload-Metadata {key} not UTF-8",
            public_message=f"Upload-Metadata {key!r} is not UTF-8 text",
        ) from None


def _checksum(header: str | None) -> bytes | None:
    """``Upload-Checksum: sha256 <base64 digest>`` (tus checksum extension)."""
    if header is None:
        return None
    algorithm, _, encoded = header.partition(" ")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if algorithm.lower() != "sha256" or len(digest) != 32:
        raise UnsupportedChecksum(
            f"Upload-Checksum {algorithm}", public_message="Upload-Checksum must be sha256 <base64>"
        )
    return digest


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_route("OPTIONS", PREFIX, options)
    router.add_post(PREFIX, create, expect_handler=expect_continue)
    router.add_route("HEAD", f"{PREFIX}/{{upload_id}}", head)
    router.add_patch(f"{PREFIX}/{{upload_id}}", patch, expect_handler=expect_continue)
    router.add_delete(f"{PREFIX}/{{upload_id}}", terminate)
