"""``GET /openapi.json``: the gateway's routes as an OpenAPI 3.1 document.

OpenAPI 3.1.0: https://spec.openapis.org/oas/v3.1.0. Written out per route;
``tests/unit/test_openapi.py`` fails when a route of the app is missing here (or this
names a route the app lacks), and schemathesis checks the live gateway's answers against
it (``tests/e2e/test_openapi.py``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from gateway.appkeys import SETTINGS
from gateway.openapi_parts import (
    BINARY,
    DIGITS,
    EMPTY,
    FLAG,
    IMAGE_ID,
    IMAGE_PAGING,
    OK_JSON,
    PUBLIC,
    TILE_PARAMS,
    admin_paths,
    album_paths,
    body,
    download,
    header,
    op,
    path_param,
    query,
    upload_paths,
)
from gateway.openapi_schemas import SCHEMAS, STATUSES
from gateway.openapi_shares import share_paths


def _paths(admin: bool) -> dict[str, Any]:
    return {
        **_public_paths(),
        **_image_paths(),
        **album_paths(),
        **upload_paths(),
        **(admin_paths() if admin else {}),
        **share_paths(),
        **_trash_paths(),
        "/v1/images/{image_id}/tiles/{version}/{level}/{tile}": download(
            "One Deep Zoom tile, `{col}_{row}.jpg` (immutable; 302 from an old version)",
            [IMAGE_ID, *TILE_PARAMS],
        ),
        "/v1/usage": {
            "get": op("What the tenant stores and the limits that apply", {200: body("Usage")})
        },
    }


def _trash_paths() -> dict[str, Any]:
    trashed = "/v1/trash/{image_id}"
    return {
        "/v1/trash": {
            "get": op(
                "The trash, newest completed first",
                {200: body("ImagePage")},
                parameters=IMAGE_PAGING,
            ),
            "delete": op("Empty the trash: delete its photos for good", {200: body("Emptied")}),
        },
        f"{trashed}/restore": {
            "post": op("Take a photo out of the trash", {200: body("Image")}, parameters=[IMAGE_ID])
        },
        trashed: {"get": op("One photo in the trash", {200: body("Image")}, parameters=[IMAGE_ID])},
        f"{trashed}/original": download("A trashed photo's original", [IMAGE_ID]),
        f"{trashed}/renditions/{{name}}": download(
            "Redirect to a trashed photo's current rendition", [IMAGE_ID, path_param("name")]
        ),
        f"{trashed}/tiles/{{version}}/{{level}}/{{tile}}": download(
            "One Deep Zoom tile of a trashed photo", [IMAGE_ID, *TILE_PARAMS]
        ),
        f"{trashed}/renditions/{{name}}/{{version}}": download(
            "A trashed photo's rendition", [IMAGE_ID, path_param("name"), path_param("version")]
        ),
    }


def _public_paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": op("Liveness", {200: OK_JSON}, errors=(), security=PUBLIC)},
        "/openapi.json": {"get": op("This document", {200: OK_JSON}, errors=(), security=PUBLIC)},
        "/": {
            "get": op(
                "The browser gallery",
                {200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
                errors=(),
                security=PUBLIC,
            )
        },
        "/static/{filename}": {
            "get": op(
                "Files of the browser page (aiohttp's static files: a missing one is an empty 404)",
                {200: {"content": {"*/*": BINARY}}, 304: EMPTY, 403: EMPTY, 404: EMPTY},
                errors=(),
                security=PUBLIC,
                parameters=[path_param("filename")],
            )
        },
        "/v1/events": {
            "get": op(
                "Live events (Server-Sent Events; Last-Event-ID resumes)",
                {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
                errors=(400, 401, 403, 429, 503),
                parameters=[header("Last-Event-ID", DIGITS, required=False)],
                operationId="streamEvents",
            ),
            "head": op("The event stream's headers", {200: EMPTY}, errors=(401,)),
        },
    }


UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/octet-stream": BINARY,
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


def _image_paths() -> dict[str, Any]:
    return {
        "/v1/images": {
            "get": op(
                "The tenant's images, newest completed first",
                {200: body("ImagePage")},
                parameters=[
                    *IMAGE_PAGING,
                    query("album", {"type": "string"}, "only this album's images"),
                    query("status", {"enum": STATUSES}, "only images in this status"),
                ],
            ),
            "post": op(
                "Upload one photo (raw bytes or a multipart form)",
                {200: body("Image"), 202: body("Image")},
                errors=(400, 401, 403, 404, 408, 413, 415, 422, 429, 503),
                parameters=[query("filename", {"type": "string"})],
                requestBody=UPLOAD_BODY,
            ),
        },
        "/v1/images/{image_id}": {
            "get": op("One image", {200: body("Image")}, parameters=[IMAGE_ID]),
            "delete": op(
                "Move an image into the trash (permanent=true: delete it and its objects now)",
                {204: EMPTY},
                parameters=[
                    IMAGE_ID,
                    query("permanent", FLAG, "skip the trash"),
                ],
            ),
        },
        "/v1/images/{image_id}/original": download("The original bytes", [IMAGE_ID]),
        "/v1/images/{image_id}/renditions/{name}": download(
            "Redirect to the current version of a rendition", [IMAGE_ID, path_param("name")]
        ),
        "/v1/images/{image_id}/renditions/{name}/{version}": download(
            "A rendition's bytes (immutable)", [IMAGE_ID, path_param("name"), path_param("version")]
        ),
    }


@cache
def document(*, admin: bool = False) -> dict[str, Any]:
    """The document of the public listener; ``admin``: with the admin routes (when
    ``GALLERY_GATEWAY_ADMIN_LISTENER=public`` puts them there)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gallery pipeline API",
            "version": "1",
            "description": 'See docs/api.md. Errors: {"error": {"code", "message"}}.',
        },
        "security": [{"apiKey": []}],
        "paths": _paths(admin),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a tenant's API key (gallery keys create)",
                },
                "adminKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "GALLERY_GATEWAY_ADMIN_KEY",
                },
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    admin = request.app[SETTINGS].gateway.admin_listener == "public"
    return web.json_response(document(admin=admin))
