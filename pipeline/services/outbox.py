"""The sweeper's rule: republish render jobs for images nobody is finishing.

Two kinds of image need it. ``queued`` ones: ingest records the image before it publishes
the job, so a gateway that dies (or a NATS outage) in between leaves an image without a
job; and a render whose retry round ran out puts its image back to ``queued``.
``processing`` ones under a lease that expired ``stale_after`` ago: the worker died and
JetStream will not deliver the job again (its deliveries ran out). Republishing is safe:
the job's ``Nats-Msg-Id`` is the image id plus its claim count, and the claim refuses a
live lease, so an image never renders twice at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pipeline.runtime import metrics
from pipeline.runtime.settings import SweeperSettings
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)


async def republish_stuck(bus: Bus, catalog: Catalog, settings: SweeperSettings) -> int:
    """Republish each image stale for ``settings.stale_after_seconds``; return how many."""
    stale = await catalog.stale_unfinished(timedelta(seconds=settings.stale_after_seconds))
    for record in stale:
        # Held back (the tenant's share of the render stream is full) or not, the image is
        # touched: the tenant's next finished job publishes it (refill) before the next sweep.
        if await bus.publish_job(record.render_job("outbox")):
            metrics.OUTBOX_REPUBLISHED.inc()
        await catalog.touch(record.tenant, record.id)
    if stale:
        log.info(
            "sweeper: republished %d image(s): %s",
            len(stale),
            ", ".join(f"{r.id} ({r.status})" for r in stale[:10]),
        )
    return len(stale)
