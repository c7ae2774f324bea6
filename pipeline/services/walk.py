"""A walk over every tenant's images in bounded batches, for reconcile and backfill.

Each batch is one bounded index range (see :mod:`pipeline.adapters.scan`), and the walk
sleeps ``pause`` seconds after each batch that read documents, so a walk over a million
images shares the catalog with uploads instead of holding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from pipeline.domain.models import ImageRecord, WalkPosition
from pipeline.services.ports import ImageScan

Progress = Callable[[int, int], None]
TenantStart = Callable[[str], Awaitable[None]]
#: Before every tenant (names are not empty): the walk visits each tenant's start.
_START = WalkPosition("", 0)


async def _nothing(tenant: str) -> None:
    return None


async def walk_images(
    scan: ImageScan,
    *,
    batch: int,
    pause: float,
    progress: Progress = lambda walked, total: None,
    after: WalkPosition | None = None,
    tenant_start: TenantStart = _nothing,
) -> AsyncIterator[ImageRecord]:
    """Every image after ``after`` (None: all), by tenant and ``seq``; ``progress(walked,
    total)`` after each batch, ``total`` from the tenants' counters; ``tenant_start(tenant)``
    is awaited before the first batch of each tenant the walk enters at its start."""
    total = await scan.count_images()
    walked = 0
    progress(walked, total)
    position: WalkPosition | None = after or _START
    while True:
        records, position = await scan.scan_images(after=position, limit=batch)
        for record in records:
            yield record
        if position is not None and position.seq == 0:
            await tenant_start(position.tenant)
        walked += len(records)
        if records:
            progress(walked, total)
        if position is None:
            return
        if records and pause > 0:
            await asyncio.sleep(pause)
