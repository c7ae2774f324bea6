"""The sweeper's rule: republish render jobs for images nobody is finishing.

Two kinds of image need it. ``queued`` ones: ingest records the image before it publishes
the job, so a gateway that dies (or a NATS outage) in between leaves an image without a
job; and a render whose retry round ran out puts its image back to ``queued``.
``processing`` ones under a lease that expired ``stale_after`` ago: the worker died and
JetStream will not deliver the job again (its deliveries ran out). Republishing is safe:
the job's ``Nats-Msg-Id`` is the image id plus its claim count, and the claim refuses a
live lease, so an image never renders twice at once.

A sweep reads the stale images in batches of ``batch_size`` and stops after
``max_per_pass``: each image it republishes is touched (its clock restarts), so it leaves the
stale set, and the next batch, the next sweep or a restarted worker's sweep goes on with the
rest without a cursor. A backlog of 100,000 stale images (a NATS outage during an import)
never loads at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pipeline.runtime import metrics
from pipeline.runtime.settings import SweeperSettings
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)


async def republish_stuck(bus: Bus, catalog: Catalog, settings: SweeperSettings) -> int:
    """Republish images stale for ``settings.stale_after_seconds``, batch by batch, up to
    ``settings.max_per_pass``; return how many."""
    older_than = timedelta(seconds=settings.stale_after_seconds)
    done = 0
    while done < settings.max_per_pass:
        limit = min(settings.batch_size, settings.max_per_pass - done)
        stale = await catalog.stale_unfinished(older_than, limit)
        for record in stale:
            # Held back (the tenant's share of the render stream is full) or not, the image
            # is touched: the tenant's next finished job publishes it (refill) before the
            # next sweep.
            if await bus.publish_job(record.render_job("outbox")):
                metrics.OUTBOX_REPUBLISHED.inc()
            await catalog.touch(record.tenant, record.id)
        done += len(stale)
        if stale:
            log.info(
                "sweeper: republished %d image(s): %s",
                len(stale),
                ", ".join(f"{r.id} ({r.status})" for r in stale[:10]),
            )
        if len(stale) < limit:
            break
    return done
