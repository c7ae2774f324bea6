"""The JSON Schemas of ``/openapi.json`` (OpenAPI 3.1, JSON Schema 2020-12): bodies and errors.

Each mirrors the function that writes it (``image_json``, ``album_json``, ``key_json``, the
errors middleware's ``error_body``); schemathesis checks every answer of the live gateway
against them (``tests/e2e/test_openapi.py``).
"""

from __future__ import annotations

from typing import Any

from pipeline.domain.access import SCOPES
from pipeline.domain.labels import NOT_BLANK_PATTERN, TENANT_PATTERN
from pipeline.runtime.settings import ShareSettings
from pipeline.services.keys import MAX_KEY_SECONDS

Schema = dict[str, Any]

ULID_PATTERN = "^[0-9A-HJKMNP-TV-Z]{26}$"
STATUSES = ["queued", "processing", "ready", "failed"]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
    }


STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer", "minimum": 0}
TIME: Schema = {"type": "string", "format": "date-time"}

ERROR = _object(
    {
        "error": _object(
            {
                "code": {"type": "string", "description": "snake_case, stable; see docs/api.md"},
                "message": {"type": "string", "description": "for people"},
            }
        )
    }
)

RENDITION = _object(
    {
        "width": INTEGER,
        "height": INTEGER,
        "content_type": STRING,
        "bytes": INTEGER,
        "url": {
            "type": "string",
            "description": "versioned: /v1/images/{id}/renditions/{name}/{version}",
        },
    }
)

MOTION = _object(
    {
        "url": {"type": "string", "description": "the `motion` rendition (H.264/AAC MP4)"},
        "content_type": STRING,
        "width": INTEGER,
        "height": INTEGER,
        "duration_seconds": nullable({"type": "number"}),
        "source": nullable({"enum": ["google", "samsung", "apple"]}),
        "video_id": {
            **nullable(STRING),
            "description": "apple: the live photo's video, uploaded as its own file",
        },
    }
)

DEEP_ZOOM = _object(
    {
        "url": {
            "type": "string",
            "description": "/v1/images/{id}/tiles/{version}; a tile is "
            "{url}/{level}/{col}_{row}.{format}",
        },
        "width": INTEGER,
        "height": INTEGER,
        "tile_size": INTEGER,
        "overlap": INTEGER,
        "format": STRING,
        "max_level": {"type": "integer", "description": "the full-size level; level 0 is 1 px"},
    }
)

IMAGE = _object(
    {
        "id": {"type": "string", "pattern": ULID_PATTERN},
        "status": {"enum": STATUSES},
        "media": {
            "enum": ["photo", "video", "motion"],
            "description": "video: the `video` rendition is an H.264/AAC MP4 preview; motion: "
            "a photo whose `motion` rendition is the video it carries (see `motion`)",
        },
        "content_type": STRING,
        "bytes": INTEGER,
        "width": INTEGER,
        "height": INTEGER,
        "frames": INTEGER,
        "filename": nullable(STRING),
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "created_at": TIME,
        "ready_at": nullable(TIME),
        "failure": nullable(STRING),
        "metadata": {"type": "object", "description": "taken_at, camera_make, camera_model…"},
        "thumbhash": nullable(STRING),
        "renditions": {"type": "object", "additionalProperties": ref("Rendition")},
        "deep_zoom": {
            **nullable(ref("DeepZoom")),
            "description": "Deep Zoom tiles of a photo above GALLERY_LIMITS_DEEP_ZOOM_MIN_SIDE",
        },
        "motion": {
            **nullable(ref("Motion")),
            "description": "a motion photo's video (Google or Samsung: inside the file; "
            "Apple: the live photo's MOV, uploaded in either order, linked by the content "
            "identifier both carry); when it could not be made, metadata.motion_error says why",
        },
        "motion_of": {
            **nullable(STRING),
            "description": "a live photo's video: the photo it plays in (not listed itself)",
        },
        "links": _object({"self": STRING, "original": STRING}),
        "albums": {"type": "array", "items": STRING},
        "trashed_at": nullable(TIME),
    }
)

ALBUM = _object(
    {
        "id": {"type": "string", "pattern": ULID_PATTERN},
        "name": STRING,
        "image_count": INTEGER,
        "cover_image_id": nullable(STRING),
        "created_at": TIME,
        "updated_at": TIME,
    }
)

# A name with something besides spaces: the service trims it, then wants 1..200 characters.
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NOT_BLANK_PATTERN}

API_KEY = _object(
    {
        "id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "tenant": STRING,
        "name": STRING,
        "scopes": {"type": "array", "items": {"enum": list(SCOPES)}},
        "created_at": TIME,
        "revoked_at": nullable(TIME),
        "expires_at": nullable(TIME),
        "last_used_at": nullable(TIME),
    }
)


SHARE = _object(
    {
        "id": {"type": "string", "pattern": ULID_PATTERN},
        "album_id": nullable(STRING),
        "image_id": nullable(STRING),
        "allow_download": {"type": "boolean"},
        "created_at": TIME,
        "expires_at": TIME,
        "revoked_at": nullable(TIME),
        "uses": INTEGER,
        "last_used_at": nullable(TIME),
    }
)

NEW_SHARE_REQUEST: Schema = {
    "type": "object",
    "properties": {
        "album_id": {"type": "string", "minLength": 1},
        "image_id": {"type": "string", "minLength": 1},
        "expires_in_seconds": {
            "type": "integer",
            "minimum": 60,
            "maximum": ShareSettings().max_expiry_seconds,
            "description": "default GALLERY_SHARE_DEFAULT_EXPIRY_SECONDS, at most "
            "GALLERY_SHARE_MAX_EXPIRY_SECONDS (its default here)",
        },
        "allow_download": {"type": "boolean", "description": "originals too (default false)"},
    },
    "oneOf": [
        {"required": ["album_id"], "not": {"required": ["image_id"]}},
        {"required": ["image_id"], "not": {"required": ["album_id"]}},
    ],
    "description": "exactly one of album_id and image_id",
}


STORED: dict[str, Schema] = {
    "photos": INTEGER,
    "bytes": _object({"originals": INTEGER, "renditions": INTEGER, "total": INTEGER}),
}


def page(item: str, cursor_pattern: str = ULID_PATTERN) -> Schema:
    return _object(
        {
            "items": {"type": "array", "items": ref(item)},
            "next_cursor": nullable({"type": "string", "pattern": cursor_pattern}),
        }
    )


SCHEMAS: dict[str, Schema] = {
    "Error": ERROR,
    "Rendition": RENDITION,
    "DeepZoom": DEEP_ZOOM,
    "Motion": MOTION,
    "Image": IMAGE,
    "ImagePage": page("Image", "^[0-9]{1,18}$"),
    "Album": ALBUM,
    "AlbumPage": page("Album"),
    "AlbumName": {**_object({"name": NAME}), "additionalProperties": True},
    "ApiKey": API_KEY,
    "ApiKeyList": _object({"items": {"type": "array", "items": ref("ApiKey")}}),
    "NewApiKey": {
        "allOf": [ref("ApiKey"), _object({"key": {"type": "string", "pattern": "^gk_"}})]
    },
    "NewApiKeyRequest": _object(
        {
            "tenant": {"type": "string", "pattern": TENANT_PATTERN},
            "name": NAME,
            "scopes": {
                "type": "array",
                "minItems": 1,
                "items": {"enum": list(SCOPES)},
                "description": "default: read, upload, delete, share; admin holds them all",
            },
            "expires_in_seconds": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_KEY_SECONDS,
            },
        },
        optional=("name", "scopes", "expires_in_seconds"),
    ),
    "Share": SHARE,
    "SharePage": page("Share"),
    "NewShare": {
        "allOf": [ref("Share"), _object({"url": {"type": "string", "description": "show once"}})]
    },
    "NewShareRequest": NEW_SHARE_REQUEST,
    "SharedLink": _object(
        {
            "album": nullable(ref("Album")),
            "image_id": nullable(STRING),
            "allow_download": {"type": "boolean"},
            "expires_at": TIME,
        }
    ),
    "Emptied": _object({"deleted": INTEGER}),
    "Usage": _object(
        {
            **STORED,
            "trash": _object(STORED),
            "quota": _object(
                {
                    "max_images": nullable(INTEGER),
                    "max_bytes": nullable(INTEGER),
                    "uploads_per_minute": nullable(INTEGER),
                    "counted_images": INTEGER,
                    "counted_bytes": INTEGER,
                }
            ),
        }
    ),
    "Health": {"type": "object"},
}
