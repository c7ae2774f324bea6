"""``GET /openapi.json``: the gateway's OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0).

Why a hand-kept document: the routes are plain aiohttp handlers that read their own headers
and bodies (tus, streamed uploads, Server-Sent Events). The libraries that generate OpenAPI
from aiohttp want every handler rewritten as a typed class view (aiohttp-pydantic) or are
unmaintained and OpenAPI 3.0 only (aiohttp-apispec), and neither can say what tus or SSE
send. So the document is data here, and two tests keep it true:

- ``tests/unit/test_openapi.py`` compares :func:`documented` with :func:`routed` (every
  method and path in the app's router, HEAD included) both ways: a new route without an
  entry here, or an entry without a route, fails it.
- ``tests/integration/test_openapi.py`` runs schemathesis against a live gateway: every
  status, header and body the gateway sends must be the one documented here.

Adding a route: add its operation to :data:`PATHS` (the bodies and errors are in
:mod:`gateway.openapi_schemas`) and a line to docs/api.md.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from aiohttp import web

from gateway.openapi_schemas import (
    BINARY,
    JSON,
    Operation,
    components,
    empty,
    json_body,
    op,
    ref,
    stream,
)
from gateway.openapi_tus import TUS_PATHS

METHODS = ("get", "put", "post", "delete", "options", "head", "patch")

_IMAGE_BODY = {
    "required": True,
    "content": {
        "application/octet-stream": {"schema": BINARY},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": BINARY}, "required": ["file"]}
        },
    },
}
_NAME_BODY = {"required": True, "content": {JSON: {"schema": ref("schemas", "AlbumName")}}}
_ADMIN: list[dict[str, list[str]]] = [{"adminKey": []}]
_KEY_BODY = {"required": True, "content": {JSON: {"schema": ref("schemas", "KeyRequest")}}}
_UPLOAD_ERRORS = ("400", "403", "408", "413", "415", "422", "429")
_REDIRECT = empty("elsewhere", {"Location": {"schema": {"type": "string"}, "required": True}})
_DELIVERY_PARAMS = ("redirect", "range", "if_none_match", "if_range")
_TAGGED = {"ETag": {"schema": {"type": "string"}, "required": True}}
DELIVERED = {
    "200": stream("image/*", "the bytes; Accept-Ranges: bytes"),
    "206": stream("image/*", "the Range asked for; Content-Range says which bytes"),
    "302": _REDIRECT | {"description": "a presigned URL (S3, ?redirect=1) or the current version"},
    "304": empty("If-None-Match matched the ETag", _TAGGED),
    "416": json_body("Error", "the Range starts past the end; Content-Range: bytes */size"),
}

PATHS: dict[str, dict[str, Operation]] = {
    "/healthz": {"get": op("liveness", {"200": {"description": "alive"}}, public=True)},
    "/readyz": {
        "get": op(
            "readiness: every backend answers",
            {"200": json_body("Readiness", "ready"), "503": json_body("Readiness", "not ready")},
            public=True,
        )
    },
    "/": {"get": op("the browser gallery", {"200": stream("text/html", "page")}, public=True)},
    "/openapi.json": {
        "get": op("this document", {"200": {"description": "OpenAPI 3.1"}}, public=True)
    },
    "/v1/events": {
        "get": op(
            "the tenant's live events (Server-Sent Events; Last-Event-ID replays)",
            {"200": {"description": "endless", "content": {"text/event-stream": {}}}},
            errors=("400",),
            params=("last_event_id",),
        ),
        "head": op("the stream's headers, no body", {"200": empty("text/event-stream")}),
    },
    "/v1/images": {
        "post": op(
            "upload one photo (raw bytes or a multipart form's first file part)",
            {"202": json_body("Image", "accepted"), "200": json_body("Image", "duplicate")},
            errors=_UPLOAD_ERRORS,
            body=_IMAGE_BODY,
        ),
        "get": op(
            "list images, newest first (?album=ID: that album's)",
            {"200": json_body("ImagePage", "a page")},
            errors=("400", "404"),
            params=("limit", "cursor", "album"),
        ),
    },
    "/v1/images/{image_id}": {
        "get": op("one image", {"200": json_body("Image", "the image")}, ("404",), ("image_id",)),
        "delete": op("delete an image", {"204": empty("deleted")}, ("404",), ("image_id",)),
    },
    "/v1/images/{image_id}/original": {
        "get": op("the uploaded bytes", DELIVERED, ("404",), ("image_id", *_DELIVERY_PARAMS))
    },
    "/v1/images/{image_id}/renditions/{name}": {
        "get": op(
            "302 to the rendition's current versioned URL",
            {"302": _REDIRECT},
            ("404", "409"),
            ("image_id", "name", "redirect"),
        )
    },
    "/v1/images/{image_id}/renditions/{name}/{version}": {
        "get": op(
            "a rendition's bytes, immutable (an outdated version: 302 to the current one)",
            DELIVERED,
            ("404", "409"),
            ("image_id", "name", "version", *_DELIVERY_PARAMS),
        )
    },
    "/v1/albums": {
        "post": op(
            "create", {"201": json_body("Album", "created")}, ("400", "413"), body=_NAME_BODY
        ),
        "get": op("list", {"200": json_body("AlbumPage", "a page")}, ("400",), ("limit", "cursor")),
    },
    "/v1/albums/{album_id}": {
        "get": op("one album", {"200": json_body("Album", "the album")}, ("404",), ("album_id",)),
        "patch": op(
            "rename",
            {"200": json_body("Album", "renamed")},
            ("400", "404", "413"),
            ("album_id",),
            body=_NAME_BODY,
        ),
        "delete": op("delete (images stay)", {"204": empty("gone")}, ("404",), ("album_id",)),
    },
    "/v1/admin/keys": {
        "get": op(
            "every tenant's API keys (?tenant=T: one tenant's); never a key itself",
            {"200": json_body("KeyList", "the keys")},
            params=("tenant",),
            security=_ADMIN,
        ),
        "post": op(
            "create a tenant's key: the key is in this answer only",
            {"201": json_body("NewKey", "created")},
            ("413",),
            body=_KEY_BODY,
            security=_ADMIN,
        ),
    },
    "/v1/admin/keys/{key_id}": {
        "delete": op(
            "revoke a key (idempotent): every gateway refuses it within seconds",
            {"204": empty("revoked")},
            ("404",),
            ("key_id",),
            security=_ADMIN,
        )
    },
    "/v1/albums/{album_id}/images/{image_id}": {
        "put": op("add an image", {"204": empty("in")}, ("404",), ("album_id", "image_id")),
        "delete": op("take out", {"204": empty("out")}, ("404",), ("album_id", "image_id")),
    },
}


def _head_of(get: Operation) -> Operation:
    """aiohttp answers HEAD on every GET route: the GET's statuses and headers, no bodies."""
    head = copy.deepcopy(get)
    head["summary"] = f"HEAD of: {get['summary']}"
    for response in head["responses"].values():
        response.pop("content", None)
    return head


@functools.cache
def document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document, built once."""
    paths: dict[str, dict[str, Operation]] = {}
    for path, item in (PATHS | TUS_PATHS).items():
        paths[path] = dict(item)
        if "get" in item and "head" not in item:
            paths[path]["head"] = _head_of(item["get"])
    return {
        "openapi": "3.1.0",
        "info": {"title": "gallery gateway", "version": "1", "description": "see docs/api.md"},
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": components(),
    }


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation in ``doc``."""
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}


def routed(router: web.UrlDispatcher) -> set[tuple[str, str]]:
    """(METHOD, path) of every route; the static files of the web page are not API."""
    return {
        (route.method, route.resource.canonical)
        for route in router.routes()
        if route.resource is not None and not isinstance(route.resource, web.StaticResource)
    }


async def serve(_: web.Request) -> web.Response:
    return web.json_response(document())
