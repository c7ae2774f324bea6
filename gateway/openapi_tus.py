"""The tus 1.0 operations of ``/openapi.json`` (https://tus.io/protocols/resumable-upload).

tus speaks in headers, not bodies: each operation lists the request headers it reads and the
response headers it sets (:data:`~gateway.openapi_schemas.TUS_HEADERS`); errors are the
gateway's JSON error body, as everywhere.
"""

from __future__ import annotations

from typing import Any

from gateway.openapi_schemas import BINARY, TUS_HEADERS, Operation, empty, op

OFFSET_STREAM = "application/offset+octet-stream"
_STATE = {name: TUS_HEADERS[name] for name in TUS_HEADERS}
_CHUNK = {"required": False, "content": {OFFSET_STREAM: {"schema": BINARY}}}
_PATCH_BODY = {"required": True, "content": {OFFSET_STREAM: {"schema": BINARY}}}
_ON_COMPLETION = ("413", "415", "422")
_DISCOVERY = {
    "Tus-Version": {"schema": {"const": "1.0.0"}, "required": True},
    "Tus-Extension": {"schema": {"type": "string"}, "required": True},
    "Tus-Max-Size": {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": True},
    "Tus-Checksum-Algorithm": {"schema": {"const": "sha256"}, "required": True},
}


def _with_location(headers: dict[str, Any]) -> dict[str, Any]:
    location = {"schema": {"type": "string", "pattern": "^/v1/uploads/"}, "required": True}
    return headers | {"Location": location}


TUS_PATHS: dict[str, dict[str, Operation]] = {
    "/v1/uploads": {
        "options": op(
            "tus discovery: version, extensions, max size (no API key needed)",
            {"204": empty("what this server speaks", _DISCOVERY)},
            public=True,
        ),
        "post": op(
            "tus creation (+ creation-with-upload when a body is sent)",
            {"201": empty("created", _with_location(_STATE))},
            errors=("400", "403", "404", "409", "412", "429", "460", *_ON_COMPLETION),
            params=("tus_resumable", "upload_length", "upload_metadata", "upload_checksum"),
            body=_CHUNK,
        ),
    },
    "/v1/uploads/{upload_id}": {
        "head": op(
            "the upload's offset, length and expiry",
            {"200": empty("its state", _STATE | {"Upload-Length": TUS_HEADERS["Upload-Offset"]})},
            errors=("404", "410", "412"),
            params=("upload_id", "tus_resumable"),
        ),
        "patch": op(
            "append at Upload-Offset",
            {"204": empty("appended", _STATE)},
            errors=("400", "404", "409", "410", "412", "423", "460", *_ON_COMPLETION),
            params=("upload_id", "tus_resumable", "upload_offset", "upload_checksum"),
            body=_PATCH_BODY,
        ),
        "delete": op(
            "tus termination",
            {"204": empty("terminated", {"Tus-Resumable": TUS_HEADERS["Tus-Resumable"]})},
            errors=("404", "412", "423"),
            params=("upload_id", "tus_resumable"),
        ),
    },
}
