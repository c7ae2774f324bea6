"""Share links: ``/v1/shares`` for their owner, ``/v1/shared/{token}/...`` for whoever holds
one, and ``/shared/{token}``, the browser page in share mode.

The link's own API is the image API under another prefix, answered by the very same
handlers (:mod:`gateway.images`): the principal is the link, so the access policy narrows
every answer to the shared album or photo. Every answer under a link's prefix says
``Referrer-Policy: no-referrer`` (the token must not leak to other sites through the
Referer header) and ``X-Robots-Tag: noindex`` (nor into search engines).
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from gateway import images, tiles, web_ui
from gateway.albums import album_json
from gateway.appkeys import ALBUMS, PRINCIPAL, SETTINGS, SHARES
from gateway.paging import next_cursor, page_params
from pipeline.domain.errors import InputError
from pipeline.domain.shares import ShareRecord
from pipeline.services.access import no_link

TOKEN_SHAPE = re.compile(r"gs_[A-Za-z0-9_-]{43}")
"""A token as :func:`pipeline.domain.shares.new_share_token` makes them."""
SHARED_API = "/v1/shared/"
SHARED_PAGE = "/shared/"
PRIVATE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}


def share_url(request: web.Request, token: str) -> str:
    """The page a link's holder opens: the browser gallery in share mode."""
    return f"{request.app[SETTINGS].gateway.public_url.rstrip('/')}{SHARED_PAGE}{token}"


def share_json(record: ShareRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "album_id": record.album_id,
        "image_id": record.image_id,
        "allow_download": record.allow_download,
        "created_at": record.created_at.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "revoked_at": record.revoked_at.isoformat() if record.revoked_at else None,
        "uses": record.uses,
        "last_used_at": record.last_used_at.isoformat() if record.last_used_at else None,
    }


async def _object_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise InputError("body is not an object", public_message='send {"album_id": "..."}')
    return body


async def create_share(request: web.Request) -> web.Response:
    body = await _object_body(request)
    for field in ("album_id", "image_id", "expires_in_seconds", "allow_download"):
        if field in body and body[field] is None:  # null is not "absent"
            raise InputError(f"{field} is null", public_message=f"{field} must not be null")
    made = await request.app[SHARES].create(
        request[PRINCIPAL],
        album_id=body.get("album_id"),
        image_id=body.get("image_id"),
        expires_in_seconds=body.get("expires_in_seconds"),
        allow_download=body.get("allow_download", False),
    )
    answer = share_json(made.record) | {"url": share_url(request, made.token)}
    location = f"/v1/shares/{made.record.id}"
    return web.json_response(answer, status=201, headers={"Location": location})


async def list_shares(request: web.Request) -> web.Response:
    limit, cursor = page_params(request)
    records = await request.app[SHARES].page(request[PRINCIPAL], limit=limit + 1, before=cursor)
    return web.json_response(
        {
            "items": [share_json(r) for r in records[:limit]],
            "next_cursor": next_cursor([r.id for r in records], limit),
        }
    )


async def revoke_share(request: web.Request) -> web.Response:
    await request.app[SHARES].revoke(request[PRINCIPAL], request.match_info["share_id"])
    return web.Response(status=204)


async def open_link(request: web.Request) -> web.Response:
    """What the link opens (the album, or the photo's id), counted as one use."""
    who = request[PRINCIPAL]
    grant = who.share
    if grant is None:  # cannot happen: the middleware sets a link's principal here
        raise no_link()
    await request.app[SHARES].count_use(who)
    album = None
    if grant.album_id is not None:
        album = album_json(await request.app[ALBUMS].get(who, grant.album_id))
    return web.json_response(
        {
            "album": album,
            "image_id": grant.image_id,
            "allow_download": grant.allow_download,
            "expires_at": grant.expires_at.isoformat(),
        }
    )


async def share_page(request: web.Request) -> web.FileResponse:
    """The browser gallery; its script sees the ``/shared/`` path and opens share mode.
    A path that cannot be a token is 404 here; a well-formed one the page checks itself."""
    if not TOKEN_SHAPE.fullmatch(request.match_info["token"]):
        raise no_link()
    return await web_ui.index(request)


async def private_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer about a link keeps its URL to itself."""
    if request.path.startswith((SHARED_API, SHARED_PAGE)):
        response.headers.update(PRIVATE_HEADERS)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/shares", create_share)
    router.add_get("/v1/shares", list_shares)
    router.add_delete("/v1/shares/{share_id}", revoke_share)
    router.add_get("/shared/{token}", share_page)
    base = SHARED_API + "{token}"
    router.add_get(base, open_link)
    router.add_get(f"{base}/images", images.list_images)
    router.add_get(f"{base}/images/{{image_id}}", images.get_image)
    router.add_get(f"{base}/images/{{image_id}}/original", images.get_original)
    router.add_get(f"{base}/images/{{image_id}}/renditions/{{name}}", images.get_rendition)
    router.add_get(
        f"{base}/images/{{image_id}}/renditions/{{name}}/{{version}}",
        images.get_rendition_version,
    )
    router.add_get(f"{base}/images" + tiles.TILE_ROUTE, tiles.get_tile)
