"""``limit`` and ``cursor`` of the paged listings (images, albums), checked once for all."""

from __future__ import annotations

import re
from typing import get_args

from aiohttp import web

from gateway.appkeys import SETTINGS
from pipeline.domain.errors import InputError
from pipeline.domain.models import Status
from pipeline.domain.numbers import parse_number

MAX_LIMIT = 500
# The album listing's cursors are the last id of the previous page: ULIDs (26 Crockford
# base32 characters); the image listing's, the last image's listing sequence number.
_CURSOR = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
_SEQ_CURSOR = re.compile(r"[0-9]{1,18}")  # ASCII digits only: int() takes other scripts'


def image_page_params(request: web.Request) -> tuple[int, int | None]:
    """(limit, cursor) of the image listing; InputError (400) naming whichever is wrong."""
    limit, cursor = page_params(request, _SEQ_CURSOR)
    return limit, None if cursor is None else int(cursor)


def page_params(request: web.Request, pattern: re.Pattern[str] = _CURSOR) -> tuple[int, str | None]:
    """(limit, cursor) from the query; InputError (400) naming whichever is wrong."""
    raw = request.query.get("limit")
    limit = request.app[SETTINGS].gateway.page_size
    if raw is not None:
        limit = parse_number(raw, "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(
            "limit out of range", public_message=f"limit must be between 1 and {MAX_LIMIT}"
        )
    cursor = request.query.get("cursor") or None
    if cursor is not None and not pattern.fullmatch(cursor):
        raise InputError(
            "bad cursor", public_message="cursor must be the next_cursor of a previous page"
        )
    return limit, cursor


def status_param(request: web.Request) -> str | None:
    """``status`` of the image listing: one of the image statuses, or InputError (400)."""
    status = request.query.get("status") or None
    if status is not None and status not in get_args(Status):
        raise InputError(
            "bad status", public_message="status must be queued, processing, ready or failed"
        )
    return status


def flag_param(request: web.Request, name: str) -> bool:
    """A boolean query parameter (true/false/1/0, absent: false); InputError naming it."""
    raw = request.query.get(name, "false").lower()
    if raw not in {"true", "false", "1", "0"}:
        raise InputError(f"bad {name}", public_message=f"{name} must be true or false")
    return raw in {"true", "1"}


def next_cursor(ids: list[str], limit: int) -> str | None:
    """The cursor of the next page, given ``limit + 1`` ids fetched: None on the last page."""
    return ids[limit - 1] if len(ids) > limit else None
