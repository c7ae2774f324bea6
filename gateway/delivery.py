"""Serving stored objects (originals, renditions) the way caches and players expect.

One place answers: ``If-None-Match`` (304, weak comparison), ``Range`` (206 with
``Content-Range``, 416 past the end, ``If-Range`` honoured), ``HEAD`` (the headers of the
GET, no body), and, with the S3 store, a 302 to a presigned URL on
``GALLERY_S3_PUBLIC_ENDPOINT`` when the request says ``?redirect=1`` or
``GALLERY_GATEWAY_REDIRECT_DOWNLOADS`` is on (``?redirect=0`` streams anyway).
"""

from __future__ import annotations

import contextlib

from aiohttp import hdrs, web

from gateway.appkeys import QUERIES, SETTINGS
from gateway.conditional import ByteRange, Unsatisfiable, byte_range, if_range_allows, none_match
from gateway.headers import mark_stored_object
from gateway.middleware import error_body
from pipeline.services.images import ObjectRef

IMMUTABLE = "private, max-age=31536000, immutable"
"""For URLs whose bytes never change (the original, a versioned rendition); private
because the photos belong to one tenant: shared caches must not keep them."""


async def deliver(
    request: web.Request, obj: ObjectRef, *, cache_control: str = IMMUTABLE
) -> web.StreamResponse:
    """Answer a GET or HEAD for ``obj`` (handed out by the image queries, which checked
    access); raises ObjectNotFound (404) when the bytes are gone."""
    headers = {
        "ETag": obj.etag,
        "Cache-Control": cache_control,
        "Accept-Ranges": "bytes",
        "Content-Disposition": obj.content_disposition,
    }
    if none_match(request.headers.get(hdrs.IF_NONE_MATCH), obj.etag):
        return web.Response(status=304, headers=headers)
    queries = request.app[QUERIES]
    if _wants_redirect(request):
        url = await queries.presigned(obj)
        if url is not None:  # None: the filesystem store has no URLs to hand out
            return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
    size = await queries.size(obj)
    try:
        span = _requested_range(request, size, obj.etag)
    except Unsatisfiable:
        return web.json_response(
            error_body("range_not_satisfiable", f"the range starts past the {size} bytes"),
            status=416,
            headers={**headers, "Content-Range": f"bytes */{size}"},
        )
    whole = ByteRange(0, size, size)
    return await _stream(request, obj, headers, span or whole, partial=span is not None)


def _wants_redirect(request: web.Request) -> bool:
    asked = request.query.get("redirect")
    if asked is not None:
        return asked.lower() in {"1", "true", "yes"}
    return request.app[SETTINGS].gateway.redirect_downloads


def _requested_range(request: web.Request, size: int, etag: str) -> ByteRange | None:
    """The range to send, or None for all of it (RFC 9110: only GET has ranges)."""
    if request.method != "GET":
        return None
    if not if_range_allows(request.headers.get(hdrs.IF_RANGE), etag):
        return None  # the client's copy is outdated: it gets the whole new one
    return byte_range(request.headers.get(hdrs.RANGE), size)


async def _stream(
    request: web.Request,
    obj: ObjectRef,
    headers: dict[str, str],
    span: ByteRange,
    *,
    partial: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(status=206 if partial else 200, headers=headers)
    mark_stored_object(response)
    response.content_type = obj.content_type
    response.content_length = span.end - span.start
    if partial:
        response.headers[hdrs.CONTENT_RANGE] = span.content_range
    await response.prepare(request)
    if request.method == "HEAD":
        # aiohttp writes whatever a StreamResponse is given, even for HEAD: a body here
        # would be read as the next response on a keep-alive connection.
        await response.write_eof()
        return response
    body_of = request.app[QUERIES].stream(obj, start=span.start, end=span.end)
    # aclosing: a client that hangs up mid-download must not leave the S3 body open.
    async with contextlib.aclosing(body_of) as body:
        async for chunk in body:
            await response.write(chunk)
    await response.write_eof()
    return response
