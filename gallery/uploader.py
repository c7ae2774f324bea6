"""``gallery upload PATH...``: send files and folders, show progress, wait until ready.

Files below ``tus_threshold`` bytes go in one streamed ``POST /v1/images`` (retried after a
503's ``Retry-After``); larger ones through tus (gallery/tus.py), resumable after Ctrl-C by
running the same command again. With ``album`` every photo (duplicates too) is added to the
album of that name, created if missing. Then the images are polled until ready or failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from gallery.api import Api, http_error, json_body
from gallery.folder import Collection, Skipped
from gallery.output import human_bytes
from gallery.progress import Display, FileResult
from gallery.tus import DEFAULT_STATE_FILE, TusClient, UploadState
from pipeline.domain.errors import DependencyError, InputError, PipelineError

RETRIES = 5
READ_BYTES = 256 * 1024
POLL_SECONDS = 0.5


@dataclass(frozen=True)
class UploadOptions:
    parallel: int = 4
    timeout: float = 600.0  # seconds to wait for ready after the last byte
    album: str | None = None
    tus_threshold: int = 64 * 1024 * 1024
    tus_chunk: int = 8 * 1024 * 1024
    state_file: Path = DEFAULT_STATE_FILE


class Uploader:
    def __init__(self, api: Api, opts: UploadOptions, display: Display) -> None:
        self.api = api
        self.opts = opts
        self.display = display
        state = UploadState(opts.state_file)
        self.tus = TusClient(api.session, api.url, state, opts.tus_chunk)
        self.album_id: str | None = None
        self.pending: dict[str, FileResult] = {}

    async def run(self, results: list[FileResult]) -> None:
        """Fills in each result's outcome; unfinished ones stay ``interrupted``."""
        if self.opts.album:
            album = await self.api.album_named(self.opts.album, create=True)
            assert album is not None
            self.album_id = str(album["id"])
        slots = asyncio.Semaphore(self.opts.parallel)

        async def one(result: FileResult) -> None:
            async with slots:
                await self._send(result)

        await asyncio.gather(*(one(r) for r in results if r.outcome != "skipped"))
        await self._wait_ready()

    async def _send(self, result: FileResult) -> None:
        self.display.sending(result)
        try:
            if result.via == "tus":
                image_id, duplicate = await self._tus(result)
            else:
                image_id, duplicate = await self._post(result)
            result.image_id = image_id
            if self.album_id:
                await self.api.add_to_album(self.album_id, image_id)
        except (PipelineError, aiohttp.ClientError) as exc:
            result.outcome, result.reason = "rejected", str(exc) or type(exc).__name__
            result.retryable = isinstance(exc, DependencyError | aiohttp.ClientError)
            self.display.finished(result)
            return
        if duplicate:
            result.outcome, result.reason = "duplicate", "already uploaded"
            self.display.finished(result)
            return
        self.display.processing(result.path)
        self.pending[image_id] = result

    async def _tus(self, result: FileResult) -> tuple[str, bool]:
        metadata = {"filename": result.path.name}
        if self.album_id:
            metadata["album"] = self.album_id
        done = await self.tus.upload(result.path, metadata, self._on_sent(result.path))
        result.resumed_from = done.resumed_from
        return done.image_id, done.duplicate

    async def _post(self, result: FileResult) -> tuple[str, bool]:
        path, on_sent = result.path, self._on_sent(result.path)
        for attempt in range(1, RETRIES + 1):
            on_sent(0)
            async with self.api.session.post(
                f"{self.api.url}/v1/images",
                data=_chunks(path, on_sent),
                params={"filename": path.name},
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(result.size),
                },
            ) as response:
                payload = await json_body(response)
                retry_after = response.headers.get("Retry-After")
                duplicate = response.headers.get("X-Gallery-Duplicate", "") == "true"
            if response.status in (200, 202) and isinstance(payload, dict):
                return str(payload["id"]), duplicate
            # 503 (busy, a backend blinked) or 429 (this key's rate): nothing was kept; wait.
            if response.status not in (429, 503) or retry_after is None or attempt == RETRIES:
                raise http_error(response.status, payload, "")
            await asyncio.sleep(float(retry_after) * attempt)
        raise AssertionError("unreachable")

    def _on_sent(self, path: Path) -> Callable[[int], None]:
        return lambda count: self.display.sent_bytes(path, count)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.opts.timeout
        while self.pending and time.monotonic() < deadline:
            for image_id, result in list(self.pending.items()):
                try:
                    doc = await self.api.image(image_id)
                except DependencyError:
                    continue  # the gateway blinked: ask again on the next round
                if doc.get("status") in ("ready", "failed"):
                    result.outcome = str(doc["status"])
                    result.reason = str(doc.get("failure") or "") or _resumed(result)
                    del self.pending[image_id]
                    self.display.finished(result)
            if self.pending:
                await asyncio.sleep(POLL_SECONDS)
        for result in self.pending.values():
            result.outcome = "not ready"
            result.reason = f"not ready after {self.opts.timeout:.0f}s"


def plan(found: Collection, opts: UploadOptions) -> list[FileResult]:
    """One result per photo, marked with how it will be sent; skipped files last, done.

    Raises InputError when there is no photo to send.
    """
    results = []
    for path in found.photos:
        size = path.stat().st_size
        via = "tus" if size >= opts.tus_threshold else "post"
        results.append(FileResult(path, size, via=via))
    if not results:
        skipped = f" ({len(found.skipped)} other file(s) skipped)" if found.skipped else ""
        raise InputError(f"no photos to upload{skipped}")
    for item in found.skipped:
        size = item.path.stat().st_size if item.path.exists() else 0
        results.append(
            FileResult(
                item.path,
                size,
                outcome="skipped",
                reason=_skipped_reason(item),
                via="-",
                sidecar_of=item.sidecar_of,
                metadata=item.metadata,
            )
        )
    return results


def _resumed(result: FileResult) -> str:
    return f"resumed at {human_bytes(result.resumed_from)}" if result.resumed_from else ""


def _skipped_reason(item: Skipped) -> str:
    if not item.metadata:
        return item.reason
    # The API has no fields for a photo's title, description, keywords, rating or capture
    # time yet (docs/api.md): the sidecar is read and its fields shown, not applied.
    names = ", ".join(sorted(item.metadata))
    return f"{item.reason}: {names} read, not applied (no API field yet)"


async def _chunks(path: Path, on_sent: Callable[[int], None]) -> AsyncIterator[bytes]:
    sent = 0
    on_sent(sent)  # from the start: a first report above 0 is how a resumed upload shows
    with path.open("rb") as file:
        while chunk := file.read(READ_BYTES):
            yield chunk
            sent += len(chunk)
            on_sent(sent)
