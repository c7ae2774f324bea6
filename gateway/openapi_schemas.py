"""The OpenAPI 3.1 ``components`` of ``/openapi.json``: bodies, parameters, error responses.

Schemas are JSON Schema 2020-12 (OpenAPI 3.1 section 4.8.24), written to match what
:mod:`gateway.images`, :mod:`gateway.albums` and the error middleware actually send;
``tests/integration/test_openapi.py`` holds them to it with schemathesis.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
ULID = "^[0-9A-HJKMNP-TV-Z]{26}$"


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


_TIME = {"type": "string", "format": "date-time"}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
                "message": {"type": "string"},
            },
        }
    },
}

RENDITION = {
    "type": "object",
    "required": ["width", "height", "content_type", "bytes", "url"],
    "properties": {
        "width": {"type": "integer", "minimum": 0},
        "height": {"type": "integer", "minimum": 0},
        "content_type": {"type": "string"},
        "bytes": {"type": "integer", "minimum": 0},
        "url": {"type": "string", "description": "where to GET the rendition's bytes"},
    },
}

IMAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": ULID},
        "status": {"enum": ["queued", "processing", "ready", "failed"]},
        "content_type": {"type": "string"},
        "bytes": {"type": "integer", "minimum": 0},
        "width": {"type": "integer", "minimum": 0},
        "height": {"type": "integer", "minimum": 0},
        "frames": {"type": "integer", "minimum": 1},
        "filename": _nullable("string"),
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "created_at": _TIME,
        "ready_at": _nullable("string", format="date-time"),
        "failure": _nullable("string"),
        "metadata": {
            "type": "object",
            "description": "what the photo says about itself: taken_at, camera_make, ...",
        },
        "thumbhash": _nullable("string"),
        "renditions": {"type": "object", "additionalProperties": ref("schemas", "Rendition")},
        "links": {
            "type": "object",
            "required": ["self", "original"],
            "properties": {"self": {"type": "string"}, "original": {"type": "string"}},
        },
        "albums": {"type": "array", "items": {"type": "string"}},
    },
}

IMAGE["required"] = list(IMAGE["properties"])  # every field is always sent

ALBUM = {
    "type": "object",
    "required": ["id", "name", "image_count", "cover_image_id", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "string", "pattern": ULID},
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "image_count": {"type": "integer", "minimum": 0},
        "cover_image_id": _nullable("string"),
        "created_at": _TIME,
        "updated_at": _TIME,
    },
}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": ref("schemas", item)},
            "next_cursor": _nullable("string", pattern=ULID),
        },
    }


ALBUM_NAME = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}},
}

_LABEL = {"type": "string", "minLength": 1, "maxLength": 200}
KEY = {
    "type": "object",
    "required": ["id", "tenant", "name", "created_at", "revoked_at"],
    "properties": {
        "id": {"type": "string"},
        "tenant": _LABEL,
        "name": _LABEL,
        "created_at": _TIME,
        "revoked_at": _nullable("string", format="date-time"),
        "key": {"type": "string", "description": "only when created"},
    },
}
KEY_REQUEST = {
    "type": "object",
    "required": ["tenant"],
    "properties": {"tenant": _LABEL, "name": _LABEL},
}

READINESS = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"enum": ["ready", "unavailable"]},
        "checks": {"type": "array", "items": {"type": "string"}},
        "failures": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

# Why each status happens is in docs/api.md; here each names the error body it carries.
ERROR_STATUSES = {
    "400": "the request is malformed (the message names what)",
    "401": "missing or unknown API key",
    "403": "the tenant's quota would be exceeded",
    "404": "no such resource (another tenant's ids answer the same)",
    "405": "the path does not take this method",
    "408": "the body did not arrive in time",
    "409": "conflicts with the resource's state",
    "410": "the upload expired",
    "412": "Tus-Resumable missing or not 1.0.0",
    "413": "the body or declared length is over the limit",
    "415": "not a supported image type / content type",
    "422": "the image breaks a limit or cannot be read",
    "423": "another request is writing this upload; Retry-After",
    "429": "this key's upload rate is exceeded; Retry-After",
    "460": "the body does not match Upload-Checksum (tus checksum extension)",
    "503": "a backend is unavailable or the gateway is busy; Retry-After",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("schemas", "Error")}}}


def _param(name: str, where: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, **extra}


_DIGITS = {"type": "string", "pattern": "^[0-9]{1,15}$"}
# tus "Upload-Metadata": comma-separated "key base64value" pairs, the value optional, the
# key anything but spaces and commas (unknown keys are ignored).
_BASE64 = "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_PAIR = f"[^ ,]+(?: {_BASE64})?"
_METADATA = f"^{_PAIR}(?:,{_PAIR})*$"
PARAMETERS = {
    "image_id": _param("image_id", "path", {"type": "string"}, required=True),
    "album_id": _param("album_id", "path", {"type": "string"}, required=True),
    "upload_id": _param("upload_id", "path", {"type": "string"}, required=True),
    "name": _param("name", "path", {"type": "string"}, required=True),
    "limit": _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}),
    "cursor": _param(
        "cursor",
        "query",
        {"type": "string", "pattern": "^([0-9A-HJKMNP-TV-Z]{26})?$"},
        description="next_cursor; empty: the first page",
    ),
    "version": _param("version", "path", {"type": "string"}, required=True),
    "redirect": _param(
        "redirect", "query", {"type": "string"}, description="1: 302 to a presigned S3 URL"
    ),
    "range": _param("Range", "header", {"type": "string"}, description="bytes=first-last"),
    "if_none_match": _param("If-None-Match", "header", {"type": "string"}),
    "if_range": _param("If-Range", "header", {"type": "string"}),
    "last_event_id": _param(
        "Last-Event-ID", "header", {"type": "string", "pattern": "^[0-9]*$"}, description="replay"
    ),
    "key_id": _param("key_id", "path", {"type": "string"}, required=True),
    "tenant": _param("tenant", "query", {"type": "string"}, description="one tenant's keys"),
    "album": _param("album", "query", {"type": "string"}, description="an album's id"),
    "tus_resumable": _param("Tus-Resumable", "header", {"const": "1.0.0"}, required=True),
    "upload_length": _param("Upload-Length", "header", _DIGITS, required=True),
    "upload_offset": _param("Upload-Offset", "header", _DIGITS, required=True),
    "upload_metadata": _param(
        "Upload-Metadata",
        "header",
        {"type": "string", "pattern": _METADATA},
        description="filename, album",
    ),
    "upload_checksum": _param(
        "Upload-Checksum", "header", {"type": "string", "pattern": "^sha256 [A-Za-z0-9+/]{43}=$"}
    ),
}


Operation = dict[str, Any]
BINARY = {"type": "string", "format": "binary"}
# Every /v1/ operation can answer these (malformed request, no key, backend outage).
_COMMON = ("400", "401", "503")
TUS_HEADERS = {
    "Tus-Resumable": {"schema": {"const": "1.0.0"}, "required": True},
    "Upload-Offset": {"schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "Upload-Expires": {"schema": {"type": "string"}, "description": "RFC 9110 date"},
    "Gallery-Image-Id": {"schema": {"type": "string"}, "description": "when complete"},
    "Gallery-Duplicate": {"schema": {"const": "true"}},
}


def op(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[str, ...] = (),
    params: tuple[str, ...] = (),
    *,
    body: dict[str, Any] | None = None,
    public: bool = False,
    security: list[dict[str, list[str]]] | None = None,
) -> Operation:
    """One operation: ``ok`` maps success statuses to responses; ``errors`` name the error
    statuses (each with the Error body) beyond the common ones of authenticated routes."""
    statuses = errors if public else (*_COMMON, *errors)
    responses = dict(ok) | {code: ref("responses", code) for code in sorted(set(statuses))}
    operation: Operation = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = [ref("parameters", name) for name in params]
    if body is not None:
        operation["requestBody"] = body
    if public or security is not None:
        operation["security"] = [] if public else security
    return operation


def json_body(schema: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("schemas", schema)}}}


def empty(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "headers": headers or {}}


def stream(media: str, description: str) -> dict[str, Any]:
    headers = {"ETag": {"schema": {"type": "string"}, "required": True}}
    return {"description": description, "headers": headers, "content": {media: {"schema": BINARY}}}


def components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "a tenant's API key"},
            "adminKey": {"type": "http", "scheme": "bearer", "description": "the admin key"},
        },
        "schemas": {
            "Error": ERROR,
            "Image": IMAGE,
            "ImagePage": _page("Image"),
            "Rendition": RENDITION,
            "Album": ALBUM,
            "AlbumPage": _page("Album"),
            "AlbumName": ALBUM_NAME,
            "Readiness": READINESS,
            "Key": KEY,
            "KeyList": {
                "type": "object",
                "required": ["items"],
                "properties": {"items": {"type": "array", "items": ref("schemas", "Key")}},
            },
            "NewKey": {"allOf": [ref("schemas", "Key")], "required": ["key"]},
            "KeyRequest": KEY_REQUEST,
        },
        "parameters": PARAMETERS,
        "responses": {code: _error_response(text) for code, text in ERROR_STATUSES.items()},
    }
