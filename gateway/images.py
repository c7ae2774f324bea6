"""Reading and deleting images: ``GET /v1/images``, ``GET|DELETE /v1/images/{id}``, renditions."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.appkeys import DELETE, PRINCIPAL, QUERIES
from gateway.delivery import deliver
from gateway.paging import flag_param, image_page_params, status_param
from pipeline.domain.models import MOTION, ImageRecord, Rendition
from pipeline.imaging import deepzoom
from pipeline.services.images import ObjectRef

IMAGES = "/v1/images"
TRASH = "/v1/trash"


def in_trash(request: web.Request) -> bool:
    """Whether the request reads the trash (``/v1/trash/{id}/...``) rather than the gallery."""
    return request.path.startswith(f"{TRASH}/")


def images_base(request: web.Request) -> str:
    """Where this request's images live: ``/v1/images``, the trash, or under the share link
    it came through (a token the middleware found live: URL-safe characters only)."""
    token = request.match_info.get("token")
    if token is not None:
        return f"/v1/shared/{token}/images"
    return TRASH if in_trash(request) else IMAGES


def rendition_url(image_id: str, name: str, rendition: Rendition, base: str = IMAGES) -> str:
    """The versioned URL: its last segment changes whenever the rendition's bytes do."""
    return f"{base}/{image_id}/renditions/{name}/{rendition.version}"


def image_json(record: ImageRecord, images: str = IMAGES) -> dict[str, Any]:
    """An image as the API shows it; ``images`` is the prefix of its URLs."""
    base = f"{images}/{record.id}"
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
                "url": rendition_url(record.id, name, r, images),
            }
            for name, r in sorted(record.renditions.items())
        },
        "deep_zoom": tiles_json(record, images),
        "motion": motion_json(record, images),
        "motion_of": record.motion_of,
        "links": {"self": base, "original": f"{base}/original"},
        "albums": list(record.albums),
        "trashed_at": record.trashed_at.isoformat() if record.trashed_at else None,
    }


def motion_json(record: ImageRecord, images: str = IMAGES) -> dict[str, object] | None:
    """A motion photo's video (``None`` for any other image): the ``motion`` rendition's URL,
    size and duration, and where it came from (``google`` XMP, ``samsung`` trailer, or
    ``apple``: a live photo's video uploaded beside it, ``video_id`` that image); ``images``
    is the prefix of the URL, as for :func:`image_json`."""
    clip = record.renditions.get(MOTION)
    if clip is None:
        return None
    about = record.metadata.get("motion")
    about = about if isinstance(about, dict) else {}
    return {
        "url": rendition_url(record.id, MOTION, clip, images),
        "content_type": clip.content_type,
        "width": clip.width,
        "height": clip.height,
        "duration_seconds": about.get("duration_seconds"),
        "source": about.get("source"),
        "video_id": about.get("video_id"),
    }


def tiles_json(record: ImageRecord, images: str = IMAGES) -> dict[str, object] | None:
    """What a viewer needs to ask for tiles (``None`` without a ``tiles`` rendition);
    ``images`` is the prefix of the URL, as for :func:`image_json`."""
    tiles = record.renditions.get(deepzoom.NAME)
    if tiles is None:
        return None
    return {
        "url": f"{images}/{record.id}/tiles/{tiles.version}",
        "width": tiles.width,
        "height": tiles.height,
        "tile_size": deepzoom.TILE_SIZE,
        "overlap": deepzoom.OVERLAP,
        "format": deepzoom.TILE_FORMAT,
        "max_level": deepzoom.max_level(tiles.width, tiles.height),
    }


async def list_images(request: web.Request) -> web.Response:
    """``?album=ID`` lists that album's images (404 for an unknown album), ``?status=S``
    only images in that status; same paging."""
    limit, cursor = image_page_params(request)
    page = await request.app[QUERIES].page(
        request[PRINCIPAL],
        limit=limit,
        before=cursor,
        album=request.query.get("album"),
        status=status_param(request),
    )
    base = images_base(request)
    return web.json_response(
        {"items": [image_json(r, base) for r in page.items], "next_cursor": page.next_cursor}
    )


async def get_image(request: web.Request) -> web.Response:
    record = await request.app[QUERIES].get(
        request[PRINCIPAL], request.match_info["image_id"], trash=in_trash(request)
    )
    return web.json_response(image_json(record, images_base(request)))


def _to_current(request: web.Request, record: ImageRecord, rendition: Rendition) -> web.Response:
    """302 to the current versioned URL (query kept, e.g. ``?redirect=1``); not cached,
    since it changes on a re-render."""
    location = rendition_url(record.id, rendition.name, rendition, images_base(request))
    # The raw (still percent-encoded) query: decoded, a %0A or %1F would be a control
    # character in the Location header, which aiohttp refuses by dropping the connection.
    if raw_query := request.rel_url.raw_query_string:
        location += f"?{raw_query}"
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-cache"})


async def _rendition(request: web.Request) -> tuple[ImageRecord, Rendition]:
    match = request.match_info
    return await request.app[QUERIES].rendition(
        request[PRINCIPAL], match["image_id"], match["name"], trash=in_trash(request)
    )


async def get_rendition(request: web.Request) -> web.StreamResponse:
    """The unversioned URL: a redirect to the versioned one (which caches keep)."""
    record, rendition = await _rendition(request)
    return _to_current(request, record, rendition)


async def get_rendition_version(request: web.Request) -> web.StreamResponse:
    """A versioned URL: the bytes, immutable; an outdated version redirects to the current."""
    record, rendition = await _rendition(request)
    if request.match_info["version"] != rendition.version:
        return _to_current(request, record, rendition)
    # Strong: the SHA-256 of these very bytes (old records: spec and original hashes).
    fallback = f"{rendition.spec_hash}-{record.sha256[:16]}"
    etag = f'"{rendition.sha256 or fallback}"'
    return await deliver(request, ObjectRef(rendition.key, rendition.content_type, etag))


async def get_original(request: web.Request) -> web.StreamResponse:
    ref = await request.app[QUERIES].original(
        request[PRINCIPAL], request.match_info["image_id"], trash=in_trash(request)
    )
    return await deliver(request, ref)


async def delete_image(request: web.Request) -> web.Response:
    """Into the trash; ``?permanent=true`` deletes for good at once."""
    permanent = flag_param(request, "permanent")
    await request.app[DELETE].delete(
        request[PRINCIPAL], request.match_info["image_id"], permanent=permanent
    )
    return web.Response(status=204)
