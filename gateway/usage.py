"""``GET /v1/usage``: what the caller's tenant stores and the limits that apply."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.appkeys import LIMITS, PRINCIPAL
from pipeline.domain.usage import StoredFigures, Usage


def _figures(figures: StoredFigures) -> dict[str, Any]:
    return {
        "photos": figures.photos,
        "bytes": {
            "originals": figures.original_bytes,
            "renditions": figures.rendition_bytes,
            "total": figures.total_bytes,
        },
    }


def usage_json(usage: Usage) -> dict[str, Any]:
    """Limits of 0 (none) are null."""
    return {
        **_figures(usage.gallery),
        "trash": _figures(usage.trash),
        "quota": {
            "max_images": usage.max_images or None,
            "max_bytes": usage.max_bytes or None,
            "uploads_per_minute": usage.uploads_per_minute or None,
            "counted_images": usage.gallery.photos + usage.trash.photos,
            "counted_bytes": usage.gallery.original_bytes + usage.trash.original_bytes,
        },
    }


async def get_usage(request: web.Request) -> web.Response:
    return web.json_response(usage_json(await request.app[LIMITS].usage(request[PRINCIPAL])))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1/usage", get_usage)
