"""The outbox sweeper: republish render jobs for images stuck in ``queued``.

The gateway inserts the document before it publishes the job; if it dies (or NATS is away)
in between, the document stays ``queued`` with no job. Republishing is safe: the job's
``Nats-Msg-Id`` is the image id and the worker's claim is guarded, so a job that did exist
only runs once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from pipeline.adapters.bus import Bus
from pipeline.adapters.catalog import Catalog
from pipeline.domain.errors import DependencyError
from pipeline.runtime import metrics
from pipeline.runtime.process import wait_or_stop
from pipeline.runtime.settings import SweeperSettings

log = logging.getLogger(__name__)


async def sweep_once(bus: Bus, catalog: Catalog, settings: SweeperSettings) -> int:
    """Republish every stale queued image once; return how many were republished."""
    stale = await catalog.stale_queued(timedelta(seconds=settings.stale_after_seconds))
    for record in stale:
        await bus.publish_job(record.render_job("outbox"))
        await catalog.touch(record.tenant, record.id)
        metrics.OUTBOX_REPUBLISHED.inc()
    if stale:
        log.info("outbox: republished %d queued image(s)", len(stale))
    return len(stale)


async def run_sweeper(
    bus: Bus, catalog: Catalog, settings: SweeperSettings, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await sweep_once(bus, catalog, settings)
        except DependencyError as exc:
            log.warning("outbox sweep failed, will retry: %s", exc)
        await wait_or_stop(stop, settings.interval_seconds)
