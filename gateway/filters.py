"""The image listing's order and filters (``order``, ``q``, ``camera``, ``lens``, ``kind``,
``taken_after``, ``taken_before``), checked once: InputError (400) naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast, get_args

from aiohttp import web

from gateway.appkeys import SETTINGS
from pipeline.domain.errors import InputError
from pipeline.domain.search import EPOCH, LATEST, ImageFilter, Kind, Order


def order_param(request: web.Request) -> Order:
    """``order``: ``upload`` (the default) or ``taken``."""
    raw = request.query.get("order") or "upload"
    if raw in get_args(Order):
        return cast(Order, raw)
    raise InputError("bad order", public_message="order must be upload or taken")


def filter_params(request: web.Request) -> ImageFilter:
    """The listing's filters from the query (none given: an empty filter)."""
    return ImageFilter(
        q=_text(request, "q"),
        camera=_text(request, "camera"),
        lens=_text(request, "lens"),
        kind=_kind(request),
        taken_after=_time(request, "taken_after"),
        taken_before=_time(request, "taken_before"),
    )


def _text(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name, "").strip()
    most = request.app[SETTINGS].gateway.search_max_chars
    if len(raw) > most:
        raise InputError(f"{name} too long", public_message=f"{name} is over {most} characters")
    return raw or None


def _kind(request: web.Request) -> Kind | None:
    raw = request.query.get("kind") or None
    if raw is None:
        return None
    if raw in get_args(Kind):
        return cast(Kind, raw)
    raise InputError("bad kind", public_message="kind must be photo or video")


def _time(request: web.Request, name: str) -> datetime | None:
    """A date (``2024-06-01``) or date and time (``2024-06-01T18:30:00``); an offset, when
    given, is not applied: capture times are the camera's wall clock."""
    raw = request.query.get(name) or None
    if raw is None:
        return None
    try:
        # One trailing newline is what a regex's `$` lets through (the OpenAPI pattern's).
        when = datetime.fromisoformat(raw.removesuffix("\n")).replace(tzinfo=UTC)
    except ValueError:
        raise InputError(
            f"bad {name}", public_message=f"{name} must be a date (YYYY-MM-DD) or ISO 8601 time"
        ) from None
    if not EPOCH <= when <= LATEST:
        raise InputError(f"bad {name}", public_message=f"{name} must be in 1900-2199")
    return when
