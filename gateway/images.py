"""Reading and deleting images: ``GET /v1/images``, ``GET|DELETE /v1/images/{id}``, renditions."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from gateway.keys import BACKENDS, DELETE, SETTINGS, TENANT_KEY
from pipeline.domain.errors import Conflict, InputError, NotFound
from pipeline.domain.models import ImageRecord

# Renditions live under content-addressed keys, so a URL's bytes never change.
IMMUTABLE = "private, max-age=31536000, immutable"


def image_json(record: ImageRecord) -> dict[str, Any]:
    base = f"/v1/images/{record.id}"
    return {
        "id": record.id,
        "status": record.status,
        "content_type": record.content_type,
        "bytes": record.bytes,
        "width": record.width,
        "height": record.height,
        "frames": record.frames,
        "filename": record.filename,
        "sha256": record.sha256,
        "created_at": record.created_at.isoformat(),
        "ready_at": record.ready_at.isoformat() if record.ready_at else None,
        "failure": record.failure,
        "metadata": record.metadata,
        "thumbhash": record.thumbhash,
        "renditions": {
            name: {
                "width": r.width,
                "height": r.height,
                "content_type": r.content_type,
                "bytes": r.bytes,
                "url": f"{base}/renditions/{name}",
            }
            for name, r in sorted(record.renditions.items())
        },
        "links": {"self": base, "original": f"{base}/original"},
    }


async def _image(request: web.Request) -> ImageRecord:
    record = await request.app[BACKENDS].catalog.get_image(
        request[TENANT_KEY], request.match_info["image_id"]
    )
    if record is None:
        # Same answer for "not yours" and "does not exist": ids are not an oracle.
        raise NotFound("no such image", public_message="no such image")
    return record


async def list_images(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    try:
        limit = int(request.query.get("limit", settings.gateway.page_size))
    except ValueError:
        raise InputError(
            "limit is not a number", public_message="limit must be an integer"
        ) from None
    if not 1 <= limit <= 500:
        raise InputError("limit out of range", public_message="limit must be between 1 and 500")
    cursor = request.query.get("cursor") or None
    records = await request.app[BACKENDS].catalog.list_images(
        request[TENANT_KEY], limit=limit + 1, before=cursor
    )
    page, more = records[:limit], len(records) > limit
    next_cursor = page[-1].id if more and page else None
    return web.json_response({"items": [image_json(r) for r in page], "next_cursor": next_cursor})


async def get_image(request: web.Request) -> web.Response:
    return web.json_response(image_json(await _image(request)))


async def _stream_object(
    request: web.Request, key: str, content_type: str, etag: str
) -> web.StreamResponse:
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag, "Cache-Control": IMMUTABLE})
    store = request.app[BACKENDS].store
    info = await store.stat(key)
    response = web.StreamResponse(
        headers={"Content-Type": content_type, "ETag": etag, "Cache-Control": IMMUTABLE}
    )
    response.content_length = info.size
    await response.prepare(request)
    # aclosing: a client that hangs up mid-download must not leave the S3 body open.
    async with contextlib.aclosing(store.stream(key)) as chunks:
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


async def get_rendition(request: web.Request) -> web.StreamResponse:
    record = await _image(request)
    name = request.match_info["name"]
    rendition = record.renditions.get(name)
    if rendition is None:
        if record.status != "ready":
            raise Conflict("not ready", public_message=f"image is {record.status}, not ready")
        raise NotFound("no such rendition", public_message=f"no rendition named {name!r}")
    return await _stream_object(
        request,
        rendition.key,
        rendition.content_type,
        f'"{rendition.spec_hash}-{record.sha256[:16]}"',
    )


async def get_original(request: web.Request) -> web.StreamResponse:
    record = await _image(request)
    return await _stream_object(
        request, record.original_key, record.content_type, f'"{record.sha256}"'
    )


async def delete_image(request: web.Request) -> web.Response:
    await request.app[DELETE].delete(request[TENANT_KEY], request.match_info["image_id"])
    return web.Response(status=204)
