"""``gallery upload PATH...``: upload files and folders, show progress, wait until ready."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

RETRIES = 5


@dataclass
class Progress:
    total_files: int
    total_bytes: int
    sent_bytes: int = 0
    uploaded: int = 0
    ready: int = 0
    failed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def render(self, final: bool = False) -> None:
        width = 30
        done = self.ready + len(self.failed) + len(self.rejected)
        filled = int(width * done / max(self.total_files, 1))
        rate = self.sent_bytes / max(time.monotonic() - self.started, 1e-6) / 1e6
        line = (
            f"\r[{'#' * filled}{'.' * (width - filled)}]"
            f" {self.uploaded}/{self.total_files} uploaded"
            f" ({self.sent_bytes / 1e6:.1f}/{self.total_bytes / 1e6:.1f} MB, {rate:.1f} MB/s),"
            f" {self.ready} ready, {len(self.failed)} failed, {len(self.rejected)} rejected"
        )
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def collect(paths: Iterable[Path]) -> list[Path]:
    """Files named directly plus every file below named folders (hidden ones skipped)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return files


async def _upload_one(
    session: aiohttp.ClientSession, url: str, path: Path, size: int, progress: Progress
) -> str | None:
    for attempt in range(1, RETRIES + 1):
        with path.open("rb") as body:
            async with session.post(
                f"{url}/v1/images",
                data=body,
                params={"filename": path.name},
                headers={"Content-Type": "application/octet-stream"},
            ) as response:
                payload = await response.json(content_type=None)
                retry_after = response.headers.get("Retry-After")
        # 503 with Retry-After: the gateway is busy or a backend blinked; the upload is not lost.
        if response.status != 503 or retry_after is None or attempt == RETRIES:
            break
        await asyncio.sleep(float(retry_after) * attempt)
    progress.sent_bytes += size
    if response.status in (200, 202):
        progress.uploaded += 1
        if payload["status"] == "ready":
            progress.ready += 1
            return None
        return str(payload["id"])
    message = (
        payload.get("error", {}).get("message", response.reason)
        if isinstance(payload, dict)
        else ""
    )
    progress.rejected.append(f"{path}: HTTP {response.status} {message}")
    return None


async def _wait_ready(
    session: aiohttp.ClientSession,
    url: str,
    pending: dict[str, Path],
    progress: Progress,
    timeout: float,
) -> None:
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for image_id, path in list(pending.items()):
            async with session.get(f"{url}/v1/images/{image_id}") as response:
                doc = await response.json()
            if doc.get("status") == "ready":
                progress.ready += 1
                del pending[image_id]
            elif doc.get("status") == "failed":
                progress.failed.append(f"{path}: {doc.get('failure')}")
                del pending[image_id]
        progress.render()
        if pending:
            await asyncio.sleep(0.5)


async def upload(
    paths: list[Path], *, url: str, key: str, parallel: int = 4, timeout: float = 600
) -> int:
    files = collect(paths)
    sizes = {p: p.stat().st_size for p in files}
    progress = Progress(len(files), sum(sizes.values()))
    pending: dict[str, Path] = {}
    slots = asyncio.Semaphore(parallel)
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(
        headers=headers, timeout=aiohttp.ClientTimeout(total=None)
    ) as session:

        async def one(path: Path) -> None:
            async with slots:
                image_id = await _upload_one(session, url, path, sizes[path], progress)
                if image_id:
                    pending[image_id] = path
                progress.render()

        await asyncio.gather(*(one(p) for p in files))
        await _wait_ready(session, url, pending, progress, timeout)
    progress.render(final=True)
    for line in progress.rejected + progress.failed:
        print(f"  {line}", file=sys.stderr)
    for path in pending.values():
        print(f"  {path}: not ready after {timeout:.0f}s", file=sys.stderr)
    return 1 if progress.failed or progress.rejected or pending else 0
