"""The outbox: republish render jobs for images stuck in ``queued``.

Ingest records the image before it publishes the job; if the gateway dies (or NATS is away)
in between, the image stays ``queued`` with no job. Republishing is safe: the job's
``Nats-Msg-Id`` is the image id and the render claim is guarded, so a job that did exist
only runs once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pipeline.runtime import metrics
from pipeline.runtime.settings import SweeperSettings
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)


async def republish_stuck(bus: Bus, catalog: Catalog, settings: SweeperSettings) -> int:
    """Republish each image queued over ``settings.stale_after_seconds``; return how many."""
    stale = await catalog.stale_queued(timedelta(seconds=settings.stale_after_seconds))
    for record in stale:
        await bus.publish_job(record.render_job("outbox"))
        await catalog.touch(record.tenant, record.id)
        metrics.OUTBOX_REPUBLISHED.inc()
    if stale:
        log.info("outbox: republished %d queued image(s)", len(stale))
    return len(stale)
