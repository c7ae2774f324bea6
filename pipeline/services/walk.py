"""A walk over every tenant's images in bounded batches, for reconcile and backfill.

Each batch is one bounded index range (see :mod:`pipeline.adapters.scan`), and the walk
sleeps ``pause`` seconds after each batch that read documents, so a walk over a million
images shares the catalog with uploads instead of holding it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from pipeline.domain.models import ImageRecord, WalkPosition
from pipeline.services.ports import ImageScan

Progress = Callable[[int, int], None]
TenantStart = Callable[[str], Awaitable[None]]
#: Before every tenant (names are not empty): the walk visits each tenant's start.
_START = WalkPosition("", 0)


async def _nothing(tenant: str) -> None:
    return None


@dataclass
class WalkState:
    """Where a walk stands: ``position`` is where its next batch starts once every image of
    the batches before was handled (None: from the start, or done when ``done``). A walk
    that stopped (an outage, Ctrl-C) goes on from ``position`` as its ``after``."""

    position: WalkPosition | None = None
    done: bool = False


def parse_position(text: str) -> WalkPosition:
    """``TENANT:SEQ`` (as :func:`format_position` writes it) -> a position; ValueError when
    it is not that."""
    tenant, sep, seq = text.rpartition(":")
    if not sep or not tenant or not seq.isascii() or not seq.isdigit():
        raise ValueError(f"expected TENANT:SEQ, got {text!r}")
    return WalkPosition(tenant, int(seq))


def format_position(position: WalkPosition) -> str:
    return f"{position.tenant}:{position.seq}"


async def walk_images(
    scan: ImageScan,
    *,
    batch: int,
    pause: float,
    progress: Progress = lambda walked, total: None,
    after: WalkPosition | None = None,
    tenant_start: TenantStart = _nothing,
    state: WalkState | None = None,
) -> AsyncIterator[ImageRecord]:
    """Every image after ``after`` (None: all), by tenant and ``seq``; ``progress(walked,
    total)`` after each batch, ``total`` from the tenants' counters; ``tenant_start(tenant)``
    is awaited before the first batch of each tenant the walk enters at its start;
    ``state`` follows where the walk stands (to resume it)."""
    total = await scan.count_images()
    walked = 0
    progress(walked, total)
    state = state or WalkState()
    position: WalkPosition | None = after or _START
    state.position = position
    while True:
        records, position = await scan.scan_images(after=position, limit=batch)
        for record in records:
            yield record
        # The caller handled every image of the batch: a resumed walk starts after it.
        state.position, state.done = position, position is None
        if position is not None and position.seq == 0:
            await tenant_start(position.tenant)
        walked += len(records)
        if records:
            progress(walked, total)
        if position is None:
            return
        if records and pause > 0:
            await asyncio.sleep(pause)
