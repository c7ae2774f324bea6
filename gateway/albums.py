"""Album routes: ``/v1/albums``, ``/v1/albums/{album_id}``, ``.../images/{image_id}``.

Thin: each handler reads the request, calls :class:`~pipeline.services.albums.AlbumService`
and writes JSON. An album's images are listed by ``GET /v1/images?album=ID``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway.appkeys import ALBUMS, DELETE, LIMITS, PRINCIPAL
from gateway.paging import flag_param, next_cursor, page_params
from pipeline.domain.albums import AlbumView
from pipeline.domain.errors import InputError


def album_json(view: AlbumView) -> dict[str, Any]:
    record = view.record
    return {
        "id": record.id,
        "name": record.name,
        "image_count": view.image_count,
        "cover_image_id": view.cover_image_id,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }


async def _name(request: web.Request) -> object:
    """The ``name`` of a JSON object body; InputError (400) for anything else."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError("body is not JSON", public_message='send {"name": "..."}') from None
    if not isinstance(body, dict) or "name" not in body:
        raise InputError("body has no name", public_message='send {"name": "..."}')
    return body["name"]


async def create_album(request: web.Request) -> web.Response:
    who = request[PRINCIPAL]
    await request.app[LIMITS].admit_album(who.tenant)  # 429 past the tenant's rate
    view = await request.app[ALBUMS].create(who, await _name(request))
    return web.json_response(
        album_json(view), status=201, headers={"Location": f"/v1/albums/{view.record.id}"}
    )


async def list_albums(request: web.Request) -> web.Response:
    limit, cursor = page_params(request)
    views = await request.app[ALBUMS].page(request[PRINCIPAL], limit=limit + 1, before=cursor)
    return web.json_response(
        {
            "items": [album_json(v) for v in views[:limit]],
            "next_cursor": next_cursor([v.record.id for v in views], limit),
        }
    )


async def get_album(request: web.Request) -> web.Response:
    view = await request.app[ALBUMS].get(request[PRINCIPAL], request.match_info["album_id"])
    return web.json_response(album_json(view))


async def rename_album(request: web.Request) -> web.Response:
    name = await _name(request)
    view = await request.app[ALBUMS].rename(
        request[PRINCIPAL], request.match_info["album_id"], name
    )
    return web.json_response(album_json(view))


async def delete_album(request: web.Request) -> web.Response:
    """The album; its photos stay, unless ``?with_photos=true`` moves them to the trash."""
    who, album_id = request[PRINCIPAL], request.match_info["album_id"]
    if flag_param(request, "with_photos"):
        await request.app[ALBUMS].get(who, album_id)  # 404 before anything moves
        await request.app[DELETE].trash_album(who, album_id)
    await request.app[ALBUMS].delete(who, album_id)
    return web.Response(status=204)


async def add_image(request: web.Request) -> web.Response:
    match = request.match_info
    await request.app[ALBUMS].add_image(request[PRINCIPAL], match["album_id"], match["image_id"])
    return web.Response(status=204)


async def remove_image(request: web.Request) -> web.Response:
    match = request.match_info
    await request.app[ALBUMS].remove_image(request[PRINCIPAL], match["album_id"], match["image_id"])
    return web.Response(status=204)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/albums", create_album)
    router.add_get("/v1/albums", list_albums)
    router.add_get("/v1/albums/{album_id}", get_album)
    router.add_patch("/v1/albums/{album_id}", rename_album)
    router.add_delete("/v1/albums/{album_id}", delete_album)
    router.add_put("/v1/albums/{album_id}/images/{image_id}", add_image)
    router.add_delete("/v1/albums/{album_id}/images/{image_id}", remove_image)
