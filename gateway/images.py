"""Reading and deleting images: ``GET /v1/images``, ``GET|DELETE /v1/images/{id}``, renditions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.appkeys import ALBUMS, BACKENDS, DELETE, TENANT_KEY
from gateway.delivery import StoredObject, deliver
from gateway.paging import image_page_params, next_cursor, status_param
from pipeline.domain.errors import Conflict, NotFound
from pipeline.domain.models import MOTION, ImageRecord, Rendition
from pipeline.imaging import deepzoom


def rendition_url(image_id: str, name: str, rendition: Rendition) -> str:
    """The versioned URL: its last segment changes whenever the rendition's bytes do."""
    return f"/v1/images/{image_id}/renditions/{name}/{rendition.version}"


def image_json(record: ImageRecord) -> dict[str, Any]:
    base = f"/v1/images/{record.id}"
    return {
        "id": record.id,
        "status": record.status,
        "media": record.media,
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
        "deep_zoom": tiles_json(record),
        "motion": motion_json(record),
        "motion_of": record.motion_of,
        "links": {"self": base, "original": f"{base}/original"},
        "albums": list(record.albums),
    }


def motion_json(record: ImageRecord) -> dict[str, object] | None:
    """A motion photo's video (``None`` for any other image): the ``motion`` rendition's URL,
    size and duration, and where it came from (``google`` XMP, ``samsung`` trailer, or
    ``apple``: a live photo's video uploaded beside it, ``video_id`` that image)."""
    clip = record.renditions.get(MOTION)
    if clip is None:
        return None
    about = record.metadata.get("motion")
    about = about if isinstance(about, dict) else {}
    return {
        "url": rendition_url(record.id, MOTION, clip),
        "content_type": clip.content_type,
        "width": clip.width,
        "height": clip.height,
        "duration_seconds": about.get("duration_seconds"),
        "source": about.get("source"),
        "video_id": about.get("video_id"),
    }


def tiles_json(record: ImageRecord) -> dict[str, object] | None:
    """What a viewer needs to ask for tiles (``None`` without a ``tiles`` rendition)."""
    tiles = record.renditions.get(deepzoom.NAME)
    if tiles is None:
        return None
    return {
        "url": f"/v1/images/{record.id}/tiles/{tiles.version}",
        "width": tiles.width,
        "height": tiles.height,
        "tile_size": deepzoom.TILE_SIZE,
        "overlap": deepzoom.OVERLAP,
        "format": deepzoom.TILE_FORMAT,
        "max_level": deepzoom.max_level(tiles.width, tiles.height),
    }


async def image_record(request: web.Request) -> ImageRecord:
    """The image the route names, of the caller's tenant (404 otherwise)."""
    record = await request.app[BACKENDS].catalog.get_image(
        request[TENANT_KEY], request.match_info["image_id"]
    )
    if record is None:
        # Same answer for "not yours" and "does not exist": ids are not an oracle.
        raise NotFound("no such image", public_message="no such image")
    return record


async def list_images(request: web.Request) -> web.Response:
    """``?album=ID`` lists that album's images (404 for an unknown album), ``?status=S``
    only images in that status; same paging."""
    limit, cursor = image_page_params(request)
    tenant, album, status = request[TENANT_KEY], request.query.get("album"), status_param(request)
    if album is not None:
        records = await request.app[ALBUMS].images(
            tenant, album, limit=limit + 1, before=cursor, status=status
        )
    else:
        records = await request.app[BACKENDS].catalog.list_images(
            tenant, limit=limit + 1, before=cursor, status=status
        )
    return web.json_response(
        {
            "items": [image_json(r) for r in records[:limit]],
            "next_cursor": next_cursor([str(r.seq) for r in records], limit),
        }
    )


async def get_image(request: web.Request) -> web.Response:
    return web.json_response(image_json(await image_record(request)))


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
    # The raw (still percent-encoded) query: decoded, a %0A or %1F would be a control
    # character in the Location header, which aiohttp refuses by dropping the connection.
    if raw_query := request.rel_url.raw_query_string:
        location += f"?{raw_query}"
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-cache"})


async def get_rendition(request: web.Request) -> web.StreamResponse:
    """The unversioned URL: a redirect to the versioned one (which caches keep)."""
    record = await image_record(request)
    name = request.match_info["name"]
    return _to_current(request, record, _rendition(record, name))


async def get_rendition_version(request: web.Request) -> web.StreamResponse:
    """A versioned URL: the bytes, immutable; an outdated version redirects to the current."""
    record = await image_record(request)
    name = request.match_info["name"]
    rendition = _rendition(record, name)
    if request.match_info["version"] != rendition.version:
        return _to_current(request, record, rendition)
    # Strong: the SHA-256 of these very bytes (old records: spec and original hashes).
    fallback = f"{rendition.spec_hash}-{record.sha256[:16]}"
    etag = f'"{rendition.sha256 or fallback}"'
    return await deliver(request, StoredObject(rendition.key, rendition.content_type, etag))


async def get_original(request: web.Request) -> web.StreamResponse:
    record = await image_record(request)
    original = StoredObject(
        record.original_key,
        record.content_type,
        f'"{record.sha256}"',
        disposition="attachment",
        filename=record.filename or f"{record.id}",
    )
    return await deliver(request, original)


async def delete_image(request: web.Request) -> web.Response:
    await request.app[DELETE].delete(request[TENANT_KEY], request.match_info["image_id"])
    return web.Response(status=204)
