"""A walk over every tenant's images in bounded batches, for reconcile and backfill.

Each batch is one bounded index range (see :mod:`pipeline.adapters.scan`), and the walk
sleeps ``pause`` seconds after each batch that read documents, so a walk over a million
images shares the catalog with uploads instead of holding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from pipeline.domain.models import ImageRecord, WalkPosition
from pipeline.services.ports import ImageScan

Progress = Callable[[int, int], None]


async def walk_images(
    scan: ImageScan,
    *,
    batch: int,
    pause: float,
    progress: Progress = lambda walked, total: None,
    after: WalkPosition | None = None,
) -> AsyncIterator[ImageRecord]:
    """Every image after ``after`` (None: all), by tenant and ``seq``; ``progress(walked,
    total)`` after each batch, ``total`` from the tenants' counters."""
    total = await scan.count_images()
    walked = 0
    progress(walked, total)
    position: WalkPosition | None = after
    while True:
        records, position = await scan.scan_images(after=position, limit=batch)
        for record in records:
            yield record
        walked += len(records)
        if records:
            progress(walked, total)
        if position is None:
            return
        if records and pause > 0:
            await asyncio.sleep(pause)
