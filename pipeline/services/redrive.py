"""Redrive: requeue dead-lettered images once an operator has fixed the cause."""

from __future__ import annotations

import logging
from collections.abc import Collection

from pipeline.domain.messages import StoredDeadLetter
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)


async def redrive(
    bus: Bus, catalog: Catalog, image_ids: Collection[str] = ()
) -> list[StoredDeadLetter]:
    """Requeue dead-lettered images (all, or those in ``image_ids``) and remove their letters.

    The image goes back to ``queued`` and gets a fresh job; an image deleted since, or one
    that is no longer ``failed``, only loses its letter.
    """
    redriven: list[StoredDeadLetter] = []
    for stored in await bus.dead_letters():
        job = stored.letter.job
        if image_ids and job.image_id not in image_ids:
            continue
        record = await catalog.requeue(job.tenant, job.image_id)
        if record is not None:
            await bus.publish_job(record.render_job("redrive"))
            redriven.append(stored)
        await bus.remove_dead_letter(stored.seq)
    log.info("redrove %d dead-lettered image(s)", len(redriven))
    return redriven
