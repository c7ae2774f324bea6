"""Backfill: after a rendition spec change, queue a re-render of every ready image whose
renditions are missing or out of date, on the backfill lane, so new uploads keep priority.

Images whose renditions already carry the current spec hashes are not queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from pipeline.imaging.spec import RenditionSpec, spec_hashes
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)
PAGE = 500


async def plan_backfill(
    bus: Bus,
    catalog: Catalog,
    spec: Sequence[RenditionSpec],
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Publish one backfill job per outdated image; return how many were (or would be) queued."""
    current = spec_hashes(spec)
    total = await catalog.count_outdated(current)
    queued = 0
    after: str | None = None
    progress(0, total)
    while page := await catalog.outdated(current, after=after, limit=PAGE):
        for record in page:
            if not dry_run:
                await bus.publish_job(record.render_job("backfill"))
            queued += 1
        after = page[-1].id
        progress(queued, total)
    log.info("backfill: %d image(s) %s", queued, "would be queued" if dry_run else "queued")
    return queued
