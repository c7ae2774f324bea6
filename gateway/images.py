"""Reading and deleting images: ``GET /v1/images``, ``GET|DELETE /v1/images/{id}``, renditions."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from gateway.keys import ALBUMS, BACKENDS, DELETE, TENANT_KEY
from gateway.paging import next_cursor, page_params
from pipeline.domain.errors import Conflict, NotFound
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
        "albums": list(record.albums),
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
    """``?album=ID`` lists that album's images (404 for an unknown album), same paging."""
    limit, cursor = page_params(request)
    tenant, album = request[TENANT_KEY], request.query.get("album")
    if album is not None:
        records = await request.app[ALBUMS].images(tenant, album, limit=limit + 1, before=cursor)
    else:
        records = await request.app[BACKENDS].catalog.list_images(
            tenant, limit=limit + 1, before=cursor
        )
    return web.json_response(
        {
            "items": [image_json(r) for r in records[:limit]],
            "next_cursor": next_cursor([r.id for r in records], limit),
        }
    )


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
