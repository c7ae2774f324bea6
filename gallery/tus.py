"""A tus 1.0 client for large files (https://tus.io/protocols/resumable-upload, core +
creation + termination), resumable across runs of ``gallery upload``.

The upload URL is kept in a small JSON state file keyed by gateway, absolute path, size and
mtime, so the same command after a Ctrl-C or a dropped connection asks the server for its
offset (``HEAD``, core protocol "Head Request") and sends only the rest (``PATCH``). A
changed file (other size or mtime) starts over. The gateway answers the completing
``PATCH`` (and a later ``HEAD``) with ``Gallery-Image-Id`` and, for bytes it already had,
``Gallery-Duplicate: true`` (docs/api.md).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp

from gallery.api import http_error, json_body
from pipeline.domain.errors import DependencyError, PipelineError

TUS_VERSION = "1.0.0"
DEFAULT_STATE_FILE = Path.home() / ".cache" / "gallery-pipeline" / "uploads.json"
READ_BYTES = 256 * 1024
ATTEMPTS = 5  # connection drops survived per file before giving up (resumes from the offset)


@dataclass(frozen=True)
class TusResult:
    image_id: str
    duplicate: bool
    resumed_from: int = 0  # bytes the server already held from an earlier run


class UploadState:
    """Upload URLs of unfinished tus uploads, in one JSON file (written atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def key(gateway: str, path: Path) -> str:
        stat = path.stat()
        return f"{gateway}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, url: str | None) -> None:
        data = self._load()
        if url is None:
            data.pop(key, None)
        else:
            data[key] = url
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(self.path)


class TusClient:
    """Sends one file through ``/v1/uploads``; ``on_sent(n)``: the first n bytes are sent."""

    def __init__(
        self, session: aiohttp.ClientSession, gateway: str, state: UploadState, chunk_bytes: int
    ) -> None:
        self.session = session
        self.gateway = gateway
        self.state = state
        self.chunk_bytes = chunk_bytes

    async def upload(
        self, path: Path, metadata: dict[str, str], on_sent: Callable[[int], None]
    ) -> TusResult:
        """Raises InputError for a refusal (413/415/422), DependencyError when it keeps failing."""
        key = self.state.key(self.gateway, path)
        size = path.stat().st_size  # noqa: ASYNC240 - one stat, not worth a thread
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._attempt(key, path, size, metadata, on_sent)
            except (aiohttp.ClientConnectionError, DependencyError) as exc:
                if attempt == ATTEMPTS:
                    raise DependencyError(f"tus upload of {path} kept failing: {exc}") from exc
                await asyncio.sleep(min(2.0**attempt, 15.0))
        raise AssertionError("unreachable")

    async def _attempt(
        self,
        key: str,
        path: Path,
        size: int,
        metadata: dict[str, str],
        on_sent: Callable[[int], None],
    ) -> TusResult:
        url = self.state.get(key)
        offset, done = await self._resume(url) if url else (None, None)
        if done is not None:
            self.state.put(key, None)
            return done
        if url is None or offset is None:
            url, offset = await self._create(size, metadata), 0
            self.state.put(key, url)
        on_sent(offset)
        try:
            done = await self._send(url, path, size, offset, on_sent)
            self.state.put(key, None)
            return replace(done, resumed_from=offset)
        except PipelineError as exc:
            if not exc.retryable:
                self.state.put(key, None)  # refused for good: nothing to resume
            raise

    async def _resume(self, url: str) -> tuple[int | None, TusResult | None]:
        """Offset the server holds, or the result of an upload that completed already."""
        async with self.session.head(self._abs(url), headers=_tus()) as response:
            if response.status in (404, 410):  # expired or terminated: start over
                return None, None
            if response.status >= 300:
                raise http_error(response.status, None, f"HEAD {url}")
            offset = int(response.headers["Upload-Offset"])
            return offset, _result(response)

    async def _create(self, size: int, metadata: dict[str, str]) -> str:
        encoded = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items()
        )
        headers = {**_tus(), "Upload-Length": str(size), "Upload-Metadata": encoded}
        async with self.session.post(f"{self.gateway}/v1/uploads", headers=headers) as response:
            if response.status != 201:
                payload = await json_body(response)
                raise http_error(response.status, payload, "POST /v1/uploads")
            return response.headers["Location"]

    async def _send(
        self, url: str, path: Path, size: int, offset: int, on_sent: Callable[[int], None]
    ) -> TusResult:
        while True:
            length = min(self.chunk_bytes, size - offset)
            headers = {
                **_tus(),
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
                "Content-Length": str(length),
            }
            body = _read(path, offset, length, on_sent)
            async with self.session.patch(self._abs(url), data=body, headers=headers) as response:
                if response.status != 204:
                    payload = await json_body(response)
                    raise http_error(response.status, payload, "")
                offset = int(response.headers["Upload-Offset"])
                done = _result(response)
            if done is not None:
                return done
            if offset >= size:
                raise DependencyError(f"{url}: complete but no Gallery-Image-Id from the gateway")

    def _abs(self, url: str) -> str:
        return url if url.startswith("http") else f"{self.gateway}{url}"


def _tus() -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION}


def _result(response: aiohttp.ClientResponse) -> TusResult | None:
    image_id = response.headers.get("Gallery-Image-Id")
    if not image_id:
        return None
    duplicate = response.headers.get("Gallery-Duplicate", "").lower() == "true"
    return TusResult(image_id, duplicate)


async def _read(
    path: Path, offset: int, length: int, on_sent: Callable[[int], None]
) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        file.seek(offset)
        left = length
        while left > 0:
            chunk = file.read(min(READ_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
            on_sent(offset + length - left)
