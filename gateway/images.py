"""Reading and deleting images: ``GET /v1/images``, ``GET|DELETE /v1/images/{id}``, renditions."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway.delivery import StoredObject, deliver
from gateway.keys import BACKENDS, DELETE, SETTINGS, TENANT_KEY
from pipeline.domain.errors import Conflict, InputError, NotFound
from pipeline.domain.models import ImageRecord, Rendition

# Cursors are image ids (ULIDs: 26 Crockford base32 characters, the first at most 7).
_CURSOR = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
MAX_PAGE = 500


def rendition_url(image_id: str, name: str, rendition: Rendition) -> str:
    """The versioned URL: its last segment changes whenever the rendition's bytes do."""
    return f"/v1/images/{image_id}/renditions/{name}/{rendition.version}"


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
                "url": rendition_url(record.id, name, r),
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
    limit, cursor = _page_query(request)
    records = await request.app[BACKENDS].catalog.list_images(
        request[TENANT_KEY], limit=limit + 1, before=cursor
    )
    page, more = records[:limit], len(records) > limit
    next_cursor = page[-1].id if more and page else None
    return web.json_response({"items": [image_json(r) for r in page], "next_cursor": next_cursor})


def _page_query(request: web.Request) -> tuple[int, str | None]:
    """``limit`` (1..500) and ``cursor`` (an id this API issued); InputError naming the bad one."""
    raw_limit = request.query.get("limit")
    try:
        limit = int(raw_limit) if raw_limit is not None else request.app[SETTINGS].gateway.page_size
    except ValueError:
        raise InputError(
            "limit is not a number", public_message=f"limit must be an integer 1..{MAX_PAGE}"
        ) from None
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(
            "limit out of range", public_message=f"limit must be between 1 and {MAX_PAGE}"
        )
    cursor = request.query.get("cursor") or None
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        # A cursor we never issued must not silently restart (or empty) the listing.
        raise InputError(
            "cursor is not an image id", public_message="invalid cursor: pass next_cursor as is"
        )
    return limit, cursor


async def get_image(request: web.Request) -> web.Response:
    return web.json_response(image_json(await _image(request)))


def _rendition(record: ImageRecord, name: str) -> Rendition:
    rendition = record.renditions.get(name)
    if rendition is None:
        if record.status != "ready":
            raise Conflict("not ready", public_message=f"image is {record.status}, not ready")
        raise NotFound("no such rendition", public_message=f"no rendition named {name!r}")
    return rendition


def _to_current(request: web.Request, record: ImageRecord, rendition: Rendition) -> web.Response:
    """302 to the current versioned URL (query kept, e.g. ``?redirect=1``); not cached,
    since it changes on a re-render."""
    location = rendition_url(record.id, rendition.name, rendition)
    if request.query_string:
        location += f"?{request.query_string}"
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-cache"})


async def get_rendition(request: web.Request) -> web.StreamResponse:
    """The unversioned URL: a redirect to the versioned one (which caches keep)."""
    record = await _image(request)
    name = request.match_info["name"]
    return _to_current(request, record, _rendition(record, name))


async def get_rendition_version(request: web.Request) -> web.StreamResponse:
    """A versioned URL: the bytes, immutable; an outdated version redirects to the current."""
    record = await _image(request)
    name = request.match_info["name"]
    rendition = _rendition(record, name)
    if request.match_info["version"] != rendition.version:
        return _to_current(request, record, rendition)
    # Strong: the SHA-256 of these very bytes (old records: spec and original hashes).
    fallback = f"{rendition.spec_hash}-{record.sha256[:16]}"
    etag = f'"{rendition.sha256 or fallback}"'
    return await deliver(request, StoredObject(rendition.key, rendition.content_type, etag))


async def get_original(request: web.Request) -> web.StreamResponse:
    record = await _image(request)
    return await deliver(
        request, StoredObject(record.original_key, record.content_type, f'"{record.sha256}"')
    )


async def delete_image(request: web.Request) -> web.Response:
    await request.app[DELETE].delete(request[TENANT_KEY], request.match_info["image_id"])
    return web.Response(status=204)
