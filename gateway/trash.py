"""The trash: ``GET /v1/trash`` lists it, ``POST /v1/trash/{id}/restore`` takes a photo back
out, ``DELETE /v1/trash`` empties it for good; a trashed photo's details, original and
renditions stay readable under ``/v1/trash/{id}`` (the image handlers, reading the trash).
"""

from __future__ import annotations

from aiohttp import web

from gateway import images
from gateway.appkeys import DELETE, PRINCIPAL, QUERIES
from gateway.images import TRASH, image_json
from gateway.paging import image_page_params


async def list_trash(request: web.Request) -> web.Response:
    limit, cursor = image_page_params(request)
    page = await request.app[QUERIES].trash(request[PRINCIPAL], limit=limit, before=cursor)
    return web.json_response(
        {"items": [image_json(r, TRASH) for r in page.items], "next_cursor": page.next_cursor}
    )


async def restore(request: web.Request) -> web.Response:
    record = await request.app[DELETE].restore(request[PRINCIPAL], request.match_info["image_id"])
    return web.json_response(image_json(record))


async def empty(request: web.Request) -> web.Response:
    deleted = await request.app[DELETE].empty(request[PRINCIPAL])
    return web.json_response({"deleted": deleted})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(TRASH, list_trash)
    router.add_delete(TRASH, empty)
    router.add_post(f"{TRASH}/{{image_id}}/restore", restore)
    router.add_get(f"{TRASH}/{{image_id}}", images.get_image)
    router.add_get(f"{TRASH}/{{image_id}}/original", images.get_original)
    router.add_get(f"{TRASH}/{{image_id}}/renditions/{{name}}", images.get_rendition)
    router.add_get(
        f"{TRASH}/{{image_id}}/renditions/{{name}}/{{version}}", images.get_rendition_version
    )
