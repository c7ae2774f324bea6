"""The parts of ``/openapi.json``: response tables, parameters, and the album, tus and
admin paths (the image, event and public paths are in :mod:`gateway.openapi`)."""

from __future__ import annotations

from typing import Any

from gateway.openapi_schemas import ULID_PATTERN, Schema, ref

JSON = "application/json"
PUBLIC: list[dict[str, list[str]]] = []  # no security requirement
ADMIN: list[dict[str, list[str]]] = [{"adminKey": []}]
_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted: rendering is queued",
    204: "No content",
    206: "Partial content (Range)",
    302: "Found: the current location",
    304: "Not modified",
    400: "Bad request: the message names the parameter",
    401: "Missing or invalid key",
    403: "Forbidden: the key lacks the scope, a quota is exceeded, a static path is outside",
    404: "No such resource (or another tenant's)",
    405: "Method not allowed",
    408: "The body did not arrive in time",
    409: "Conflict (e.g. the image is not ready; an album of that name exists)",
    410: "Gone",
    412: "Precondition failed (tus: Tus-Resumable)",
    413: "Too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Unprocessable image",
    429: "Too many uploads, or the key or tenant holds its share of the gateway (uploads, "
    "event streams): retry after Retry-After",
    460: "Checksum mismatch (tus)",
    503: "A backend is unavailable or the gateway is busy: retry after Retry-After",
}
_COMMON_ERRORS = (400, 401, 403, 404, 503)


def as_json(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def responses(ok: dict[int, Any], errors: tuple[int, ...] = _COMMON_ERRORS) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status, answer in ok.items():
        answers[str(status)] = {"description": _DESCRIPTIONS[status], **answer}
    for status in errors:
        answers[str(status)] = {
            "description": _DESCRIPTIONS[status],
            "content": as_json(ref("Error")),
        }
    return answers


def op(
    summary: str, ok: dict[int, Any], *, errors: tuple[int, ...] = _COMMON_ERRORS, **extra: Any
) -> dict[str, Any]:
    return {"summary": summary, "responses": responses(ok, errors), **extra}


def body(schema: str) -> dict[str, Any]:
    return {"content": as_json(ref(schema))}


def path_param(name: str, pattern: str | None = None) -> dict[str, Any]:
    schema: Schema = {"type": "string", "minLength": 1}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "path", "required": True, "schema": schema}


def query(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def header(name: str, schema: Schema, required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema}


def paging(cursor_pattern: str) -> list[dict[str, Any]]:
    """``limit`` and ``cursor`` of a listing whose cursors match ``cursor_pattern``."""
    return [
        query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "page size"),
        query(
            "cursor",
            {"type": "string", "pattern": f"^({cursor_pattern[1:-1]})?$"},
            "next_cursor of the previous page (empty: the first page)",
        ),
    ]


PAGING = paging(ULID_PATTERN)
#: The image listing's cursor: the last image's listing sequence number, or on the
#: timeline its ``taken_key`` (a decimal either way).
SEQ_PATTERN = "^[0-9]{1,18}$"
IMAGE_PAGING = paging(SEQ_PATTERN)
_TEXT: Schema = {"type": "string", "maxLength": 200}
_WHEN = "a date (YYYY-MM-DD) or ISO 8601 time, 1900-2199, compared with the camera's clock"
_WHEN_SCHEMA: Schema = {
    "type": "string",
    # The documented forms (the gateway also takes the rest of ISO 8601): a date of 1900-2199,
    # days up to 28 so that every match is a real date, and an optional time of day; empty
    # is the same as leaving the parameter out.
    "pattern": r"^((19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?)?)?$",
}
#: The image listing's order and filters (gateway/filters.py).
IMAGE_FILTERS = [
    query(
        "order",
        {"enum": ["upload", "taken"]},
        "upload: newest completed upload first (cursor: seq); taken: the timeline, latest "
        "taken first, photos without a capture date by upload time (cursor: taken_key)",
    ),
    query(
        "q",
        _TEXT,
        "words each matching (a prefix of) a word of the file name, title, description or keywords",
    ),
    query("camera", _TEXT, "words of the camera's make and model"),
    query("lens", _TEXT, "words of the lens name"),
    query("kind", {"enum": ["photo", "video"]}, "only photos or only videos"),
    query("taken_after", _WHEN_SCHEMA, f"taken at or after: {_WHEN}"),
    query("taken_before", _WHEN_SCHEMA, f"taken before: {_WHEN}"),
]
IMAGE_ID = path_param("image_id")
TILE_PARAMS = [path_param("version"), path_param("level"), path_param("tile")]
"""A Deep Zoom tile's path parameters: ``{version}/{level}/{tile}``."""
FLAG: Schema = {"enum": ["true", "false", "1", "0"]}
ALBUM_ID = path_param("album_id")
UPLOAD_ID = path_param("upload_id")
TUS_RESUMABLE = header("Tus-Resumable", {"enum": ["1.0.0"]})
DIGITS: Schema = {"type": "string", "pattern": "^[0-9]{1,18}$"}
POSITIVE: Schema = {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}
_B64 = "(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_PAIR = f"[!-+\\--~]+(?: {_B64})?"  # a key (printable ASCII, no space or comma), a value
# tus "Upload-Metadata": comma-separated "key base64value" pairs (values are UTF-8 text here).
METADATA: Schema = {"type": "string", "pattern": f"^(?:{_PAIR}(?:,{_PAIR})*)?$"}
# tus checksum extension, "Upload-Checksum: sha256 <base64 of the 32-byte digest>".
CHECKSUM: Schema = {"type": "string", "pattern": "^sha256 [A-Za-z0-9+/]{43}=$"}
BINARY = {"schema": {"type": "string", "format": "binary"}}
OK_JSON = {"content": as_json({"type": "object"})}
EMPTY: dict[str, Any] = {}
DOWNLOAD = {"content": {"*/*": BINARY}}
DOWNLOAD_ERRORS = (400, 401, 403, 404, 409, 416, 503)


def download(summary: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    answers = {200: DOWNLOAD, 206: DOWNLOAD, 302: EMPTY, 304: EMPTY}
    return {
        "get": op(summary, answers, errors=DOWNLOAD_ERRORS, parameters=params),
        "head": op(
            summary + " (headers only)",
            {200: EMPTY, 206: EMPTY, 302: EMPTY, 304: EMPTY},
            errors=DOWNLOAD_ERRORS,
            parameters=params,
        ),
    }


def album_paths() -> dict[str, Any]:
    return {
        "/v1/albums": {
            "get": op(
                "The tenant's albums, newest first", {200: body("AlbumPage")}, parameters=PAGING
            ),
            "post": op(
                "Create an album (names are unique per tenant: 409 album_exists names the "
                "album that has it)",
                {201: body("Album")},
                errors=(*_COMMON_ERRORS, 409, 429),
                requestBody={"required": True, **body("AlbumName")},
            ),
        },
        "/v1/albums/{album_id}": {
            "get": op("One album", {200: body("Album")}, parameters=[ALBUM_ID]),
            "patch": op(
                "Rename an album (409 album_exists when another album has the name)",
                {200: body("Album")},
                errors=(*_COMMON_ERRORS, 409),
                parameters=[ALBUM_ID],
                requestBody={"required": True, **body("AlbumName")},
            ),
            "delete": op(
                "Delete an album (its images stay, unless with_photos=true: into the trash)",
                {204: EMPTY},
                parameters=[ALBUM_ID, query("with_photos", FLAG, "trash them")],
            ),
        },
        **_album_membership_paths(),
    }


def _album_membership_paths() -> dict[str, Any]:
    return {
        "/v1/albums/{album_id}/images/{image_id}": {
            "put": op(
                "Put an image in an album (idempotent)",
                {204: EMPTY},
                parameters=[ALBUM_ID, IMAGE_ID],
            ),
            "delete": op(
                "Take an image out of an album (idempotent)",
                {204: EMPTY},
                parameters=[ALBUM_ID, IMAGE_ID],
            ),
        },
    }


TUS_ERRORS = (400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 429, 460, 503)


def upload_paths() -> dict[str, Any]:
    return {"/v1/uploads": _tus_creation(), "/v1/uploads/{upload_id}": _tus_upload()}


def _tus_creation() -> dict[str, Any]:
    return {
        "options": op(
            "tus discovery: version, extensions, limits", {204: EMPTY}, errors=(), security=PUBLIC
        ),
        "post": op(
            "tus creation (with optional first bytes)",
            {201: EMPTY},
            errors=TUS_ERRORS,
            parameters=[
                TUS_RESUMABLE,
                header("Upload-Length", POSITIVE),
                header("Upload-Metadata", METADATA, required=False),
            ],
        ),
    }


def _tus_upload() -> dict[str, Any]:
    item = [TUS_RESUMABLE, UPLOAD_ID]
    return {
        "head": op("tus: the upload's offset", {200: EMPTY}, errors=TUS_ERRORS, parameters=item),
        "patch": op(
            "tus: append bytes at Upload-Offset",
            {204: EMPTY},
            errors=TUS_ERRORS,
            parameters=[
                *item,
                header("Upload-Offset", DIGITS),
                header("Upload-Checksum", CHECKSUM, required=False),
            ],
            requestBody={
                "required": True,
                "content": {"application/offset+octet-stream": BINARY},
            },
        ),
        "delete": op("tus termination", {204: EMPTY}, errors=TUS_ERRORS, parameters=item),
    }


def admin_paths() -> dict[str, Any]:
    return {
        "/v1/admin/keys": {
            "get": op(
                "API keys (never the keys themselves)",
                {200: body("ApiKeyList")},
                errors=(401, 403, 503),
                security=ADMIN,
                parameters=[query("tenant", {"type": "string"}, "only this tenant's keys")],
            ),
            "post": op(
                "Create an API key (shown in this answer only)",
                {201: body("NewApiKey")},
                errors=(400, 401, 403, 503),
                security=ADMIN,
                requestBody={"required": True, **body("NewApiKeyRequest")},
            ),
        },
        "/v1/admin/keys/{key_id}": {
            "delete": op(
                "Revoke a key: every gateway refuses it within seconds",
                {204: EMPTY},
                errors=(401, 403, 404, 503),
                security=ADMIN,
                parameters=[path_param("key_id")],
            ),
        },
    }
