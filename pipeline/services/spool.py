"""The render spool: originals streamed from the store into bounded temporary files.

The worker never holds an original in memory: :meth:`Spool.fetch` streams the object into a
file under the spool directory and yields its path, which the render child opens. The
spool's bytes on disk are capped (``GALLERY_WORKER_SPOOL_BYTES``): a fetch that would go over
waits for nobody; it fails, retryably (:class:`SpoolFull`) while other originals hold the
space, terminally (:class:`OriginalTooLarge`) when the original alone is larger than the
whole spool. The file is removed when the fetch's block ends, whatever happened in it (a
render child killed at its deadline, a crash, a cancelled job); files named with this
process's pid that a killed predecessor left behind (a container's worker is always pid 1)
are removed by :meth:`Spool.sweep` at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from pipeline.domain.errors import OriginalTooLarge, SpoolFull
from pipeline.domain.objects import ObjectStore

# Big enough that a 10 MB photo takes ten writes (each one a hop to a thread), small enough
# that a stalled disk holds little in memory.
CHUNK_BYTES = 1024 * 1024
_PREFIX = "gallery-original-"


class Spool:
    """Temporary files for originals being rendered: at most ``capacity`` bytes at once.

    ``root`` is the directory (``None``: the system's temporary directory).
    """

    def __init__(self, root: Path | None, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1 byte")
        # Absolute: the render child opens the path it is given.
        self.root = Path(root if root is not None else tempfile.gettempdir()).absolute()
        self.capacity = capacity
        self.used = 0

    def sweep(self) -> int:
        """Remove files a killed process with this pid left behind; returns how many."""
        removed = 0
        for path in self.root.glob(f"{_PREFIX}{os.getpid()}-*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed

    @contextlib.asynccontextmanager
    async def fetch(self, store: ObjectStore, key: str) -> AsyncIterator[Path]:
        """Stream object ``key`` into a new spool file; yield its path; remove it after.

        Raises what the store raises (``ObjectNotFound``, ``StorageError``),
        :class:`SpoolFull` (retryable: other originals hold the space) and
        :class:`OriginalTooLarge` (the object alone exceeds ``capacity``).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=self.root)
        path = Path(name)
        held = 0
        try:
            with os.fdopen(fd, "wb") as file:
                async for chunk in store.stream(key, CHUNK_BYTES):
                    self._reserve(len(chunk), held, key)
                    held += len(chunk)
                    await asyncio.to_thread(_write, file, chunk)
            yield path
        finally:
            self.used -= held
            # The original, and what a render wrote beside it (a video's preview).
            for leftover in (path, *self.root.glob(f"{path.name}.*")):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)

    def _reserve(self, size: int, held: int, key: str) -> None:
        if self.used + size <= self.capacity:
            self.used += size
            return
        if self.used - held == 0:
            raise OriginalTooLarge(
                f"{key} is larger than the render spool ({self.capacity} bytes, "
                "GALLERY_WORKER_SPOOL_BYTES)",
                public_message="the original is larger than this worker can take",
            )
        raise SpoolFull(
            f"render spool full: {self.used} of {self.capacity} bytes in use "
            "(GALLERY_WORKER_SPOOL_BYTES)"
        )


def _write(file: BinaryIO, chunk: bytes) -> None:
    file.write(chunk)
