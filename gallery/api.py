"""The gateway's HTTP API (docs/api.md) as the command line uses it.

Every non-2xx answer becomes an error of the pipeline's tree carrying the gateway's own
``error.message``: 401 -> Unauthorized, 404 -> NotFound, 5xx or no answer -> DependencyError,
other 4xx -> InputError. The command line maps those to exit codes (gallery/exitcodes.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from pipeline.domain.albums import same_name
from pipeline.domain.errors import (
    DependencyError,
    InputError,
    NotFound,
    PipelineError,
    Unauthorized,
)

Json = dict[str, Any]


def error_message(payload: object, fallback: str) -> str:
    """The gateway's ``{"error": {"message"}}`` or ``fallback`` for any other body."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return fallback


_BYTE_LIMIT = re.compile(r"the limit of (\d+) bytes")


def _with_setting(status: int, message: str) -> str:
    """A 413's byte count in binary units, with the setting that raises the limit."""
    if status != 413:
        return message

    def human(match: re.Match[str]) -> str:
        limit = int(match.group(1))
        return (
            f"the limit of {binary_bytes(limit)} ({limit} bytes; the gateway's "
            "GALLERY_LIMITS_MAX_UPLOAD_BYTES raises it)"
        )

    return _BYTE_LIMIT.sub(human, message)


def binary_bytes(size: int) -> str:
    """``100 MiB``, ``1.5 GiB``, ``512 KiB``, ``12 bytes``: as the settings count."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{size} bytes"


def http_error(status: int, payload: object, what: str) -> PipelineError:
    message = f"HTTP {status} {_with_setting(status, error_message(payload, ''))}".rstrip()
    message = f"{what}: {message}" if what else message
    if status == 401:
        return Unauthorized(f"{what}: the API key was refused (HTTP 401)")
    if status == 404:
        return NotFound(message)
    if status >= 500:
        return DependencyError(message)
    return InputError(message)


class Api:
    """A tenant's session with one gateway (``url`` without a trailing slash)."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, key: str) -> AsyncIterator[Api]:
        headers = {"Authorization": f"Bearer {key}"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            yield cls(session, url.rstrip("/"))

    async def request(
        self, method: str, path: str, *, json: Json | None = None, params: Json | None = None
    ) -> Any:
        """JSON of a 2xx answer (None for 204); raises the error tree otherwise."""
        try:
            async with self.session.request(
                method, f"{self.url}{path}", json=json, params=params
            ) as response:
                payload = None if response.status == 204 else await json_body(response)
        except aiohttp.ClientConnectionError as exc:
            raise DependencyError(f"cannot reach the gateway at {self.url}: {exc}") from exc
        if response.status >= 300:
            raise http_error(response.status, payload, f"{method} {path}")
        return payload

    async def image(self, image_id: str) -> Json:
        result: Json = await self.request("GET", f"/v1/images/{image_id}")
        return result

    async def images(
        self, *, album: str | None = None, status: str | None = None, limit: int = 100
    ) -> AsyncIterator[Json]:
        """Every image of the tenant (newest first), page by page through ``next_cursor``.

        ``status`` is filtered here too: a gateway that ignores the parameter still gives
        the right answer, only slower.
        """
        params: Json = {"limit": str(min(limit, 500))}
        if album:
            params["album"] = album
        if status:
            params["status"] = status
        async for item in self.pages("/v1/images", params):
            if status is None or item.get("status") == status:
                yield item

    async def pages(self, path: str, params: Json | None = None) -> AsyncIterator[Json]:
        """Every item of a paged listing (``items``, ``next_cursor``), page by page."""
        params = dict(params or {"limit": "100"})
        while True:
            page = await self.request("GET", path, params=params)
            for item in page["items"]:
                yield item
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def albums(self) -> AsyncIterator[Json]:
        """Every album of the tenant (newest first), page by page."""
        params: Json = {"limit": "100"}
        while True:
            page = await self.request("GET", "/v1/albums", params=params)
            for album in page["items"]:
                yield dict(album)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    async def album_named(self, name: str, *, create: bool) -> Json | None:
        """The album called ``name`` (first match), created when missing and ``create``.

        Names compare in Unicode NFC, as the server keeps them: a name typed decomposed (as
        macOS file names and some input methods give it) finds the album, never a twin."""
        name = same_name(name)
        async for album in self.albums():
            if same_name(str(album.get("name", ""))) == name:
                return album
        if not create:
            return None
        try:
            created: Json = await self.request("POST", "/v1/albums", json={"name": name})
        except InputError:
            # 409: another upload created it since we looked (names are unique per tenant).
            if (found := await self.album_named(name, create=False)) is None:
                raise
            return found
        return created

    async def album(self, album_id: str) -> Json:
        result: Json = await self.request("GET", f"/v1/albums/{album_id}")
        return result

    async def add_to_album(self, album_id: str, image_id: str) -> None:
        await self.request("PUT", f"/v1/albums/{album_id}/images/{image_id}")


async def json_body(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None
