"""The share-link paths of ``/openapi.json``: ``/v1/shares`` (a key with the ``share``
scope) and ``/v1/shared/{token}/...`` (no key: the token in the path is the capability)."""

from __future__ import annotations

from typing import Any

from gateway.openapi_parts import (
    EMPTY,
    IMAGE_ID,
    IMAGE_PAGING,
    PAGING,
    PUBLIC,
    TILE_PARAMS,
    body,
    download,
    op,
    path_param,
    query,
)
from gateway.openapi_schemas import STATUSES
from gateway.shares import TOKEN_SHAPE

TOKEN = path_param("token", f"^{TOKEN_SHAPE.pattern}$")
SHARED_ERRORS = (400, 403, 404, 429, 503)
"""A link's answers: 404 alike for unknown, expired and revoked links, 429 over its rate."""


def _public(operations: dict[str, Any]) -> dict[str, Any]:
    return {method: {**operation, "security": PUBLIC} for method, operation in operations.items()}


SHARED = "/v1/shared/{token}"


def share_paths() -> dict[str, Any]:
    return {**_owner_paths(), **_link_paths(), **_link_downloads()}


def _owner_paths() -> dict[str, Any]:
    return {
        "/v1/shares": {
            "post": op(
                "Share one album or one photo: a link anyone holding it may open",
                {201: body("NewShare")},
                requestBody={"required": True, **body("NewShareRequest")},
            ),
            "get": op(
                "The tenant's share links with their use counts",
                {200: body("SharePage")},
                parameters=PAGING,
            ),
        },
        "/v1/shares/{share_id}": {
            "delete": op(
                "Revoke a link: every gateway refuses it within seconds",
                {204: EMPTY},
                parameters=[path_param("share_id")],
            )
        },
    }


def _link_paths() -> dict[str, Any]:
    return {
        "/shared/{token}": {
            "get": op(
                "The browser gallery in share mode (404 for a path that cannot be a token)",
                {200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
                errors=(404,),
                security=PUBLIC,
                parameters=[TOKEN],
            )
        },
        SHARED: {
            "get": op(
                "What the link opens (counted as one use)",
                {200: body("SharedLink")},
                errors=SHARED_ERRORS,
                security=PUBLIC,
                parameters=[TOKEN],
            )
        },
        f"{SHARED}/images": {
            "get": op(
                "The shared photos, newest first",
                {200: body("ImagePage")},
                errors=SHARED_ERRORS,
                security=PUBLIC,
                parameters=[
                    TOKEN,
                    *IMAGE_PAGING,
                    query("album", {"type": "string"}, "the shared album (any other: 404)"),
                    query("status", {"enum": STATUSES}, "only images in this status"),
                ],
            )
        },
    }


def _link_downloads() -> dict[str, Any]:
    return {
        f"{SHARED}/images/{{image_id}}": {
            "get": op(
                "One shared photo",
                {200: body("Image")},
                errors=SHARED_ERRORS,
                security=PUBLIC,
                parameters=[TOKEN, IMAGE_ID],
            )
        },
        f"{SHARED}/images/{{image_id}}/original": _public(
            download("The original (403 unless the link allows downloads)", [TOKEN, IMAGE_ID])
        ),
        f"{SHARED}/images/{{image_id}}/renditions/{{name}}": _public(
            download("Redirect to the current rendition", [TOKEN, IMAGE_ID, path_param("name")])
        ),
        f"{SHARED}/images/{{image_id}}/renditions/{{name}}/{{version}}": _public(
            download(
                "A rendition's bytes (immutable)",
                [TOKEN, IMAGE_ID, path_param("name"), path_param("version")],
            )
        ),
        f"{SHARED}/images/{{image_id}}/tiles/{{version}}/{{level}}/{{tile}}": _public(
            download("One Deep Zoom tile of a shared photo", [TOKEN, IMAGE_ID, *TILE_PARAMS])
        ),
    }
