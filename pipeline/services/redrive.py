"""Redrive: act on each dead letter once an operator has fixed the cause, and say what was done.

Per status of the letter's image (the catalog is the truth, the letter only a pointer):

| image | action |
| --- | --- |
| ``failed`` | reset (attempts, crashes, rounds) and requeued: a fresh render job |
| ``queued`` / ``processing`` | requeued: a fresh job (a live lease makes it wait its turn) |
| ``ready`` | letter dropped with a note (a backfill letter: the backfill job is published again) |
| deleted | letter dropped |

A letter is removed only after its job is published, so a bus failure keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

from pipeline.domain.messages import StoredDeadLetter
from pipeline.domain.models import ImageRecord
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Redriven:
    """One letter and what the redrive did about it (``status``: the image's, or "deleted")."""

    stored: StoredDeadLetter
    status: str
    action: str
    requeued: bool


async def redrive(
    bus: Bus, catalog: Catalog, image_ids: Collection[str] = ()
) -> AsyncIterator[Redriven]:
    """Act on each dead letter (all, or those of ``image_ids``), yielding what was done.

    Raises :class:`~pipeline.domain.errors.DependencyError` when the bus or catalog fails;
    what was yielded before stands, the letter at hand is kept.
    """
    for stored in await bus.dead_letters():
        job = stored.letter.job
        if job is None:
            # An undecodable message or another lane's job: nothing to render again. It stays
            # for the operator to read (``gallery dead-letters``) and remove by hand.
            continue
        if image_ids and job.image_id not in image_ids:
            continue
        record = await catalog.get_image(job.tenant, job.image_id)
        done = await _act(bus, catalog, stored, record)
        await bus.remove_dead_letter(stored.seq)
        log.info("redrive %s/%s: %s", job.tenant, job.image_id, done.action)
        yield done


async def _act(
    bus: Bus, catalog: Catalog, stored: StoredDeadLetter, record: ImageRecord | None
) -> Redriven:
    if record is None:
        return Redriven(stored, "deleted", "letter dropped: the image was deleted", False)
    if record.status == "ready":
        if stored.letter.job is not None and stored.letter.job.reason == "backfill":
            await bus.publish_job(record.render_job("backfill"))
            return Redriven(stored, "ready", "backfill requeued", True)
        return Redriven(stored, "ready", "letter dropped: the image is ready", False)
    if record.status == "failed":
        reset = await catalog.requeue(record.tenant, record.id)
        if reset is None:  # changed meanwhile: look again next time, keep nothing silent
            return Redriven(stored, record.status, "letter dropped: the image changed", False)
        await bus.publish_job(reset.render_job("redrive"))
        return Redriven(stored, "failed", "reset and requeued", True)
    await bus.publish_job(record.render_job("redrive"))
    return Redriven(stored, record.status, "requeued", True)
