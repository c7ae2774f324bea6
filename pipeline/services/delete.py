"""Delete: the document, then a cleanup job for its objects; and the rule for a delete that
races a render.

The document goes first: from then on nobody can reach the objects. Their removal is a
:class:`~pipeline.domain.messages.CleanupJob` on the bus (``gallery.job.cleanup``), which
the worker's cleanup lane (:class:`CleanupService`) retries with backoff until the store
answers, so a store outage during a delete loses nothing and, once it is over, leaves
nothing. A worker that was rendering meanwhile finds no document to mark ready and calls
:func:`remove_orphaned_renditions`, which removes what it stored after the delete ran.
Both halves of that race live here.
"""

from __future__ import annotations

import contextlib
import logging

from pipeline.domain import names
from pipeline.domain.errors import BusError, NotFound, StorageError
from pipeline.domain.messages import CleanupJob, ImageEvent
from pipeline.domain.models import ImageRecord
from pipeline.domain.objects import ObjectStore
from pipeline.domain.outcomes import Ack, Delivery, Outcome
from pipeline.services.live import linked_video
from pipeline.services.ports import Catalog, CleanupPublisher

log = logging.getLogger(__name__)


def cleanup_job(record: ImageRecord) -> CleanupJob:
    """Every object of ``record``: its original, its recorded renditions and anything else
    under its renditions folder (a render that raced the delete)."""
    prefix = names.rendition_prefix(record.tenant, record.id)
    elsewhere = sorted(r.key for r in record.renditions.values() if not r.key.startswith(prefix))
    return CleanupJob(
        image_id=record.id,
        tenant=record.tenant,
        keys=[record.original_key, *elsewhere],
        prefixes=[prefix],
    )


async def remove_objects(store: ObjectStore, job: CleanupJob) -> int:
    """Delete what ``job`` names; returns how many objects went. Raises StorageError."""
    for key in job.keys:
        await store.delete(key)
    removed = len(job.keys)
    for prefix in job.prefixes:
        removed += await store.delete_prefix(prefix)
    return removed


class DeleteService:
    def __init__(self, catalog: Catalog, store: ObjectStore, bus: CleanupPublisher) -> None:
        self._catalog = catalog
        self._store = store
        self._bus = bus

    async def delete(self, tenant: str, image_id: str) -> ImageRecord:
        """Delete one image of ``tenant``; raises :class:`NotFound` (also for another tenant's).

        Succeeds once the document is gone: the objects follow through the cleanup job.
        """
        await self._delete_live_video(tenant, image_id)
        record = await self._catalog.delete_image(tenant, image_id)
        if record is None:
            raise NotFound("no such image", public_message="no such image")
        await self._queue_cleanup(cleanup_job(record))
        await self._bus.publish_event(ImageEvent(type="deleted", image_id=record.id, tenant=tenant))
        if record.motion_of is not None:  # a live photo's video, deleted on its own
            await self._catalog.unlink_motion(tenant, record.motion_of, record.id)
        return record

    async def _delete_live_video(self, tenant: str, image_id: str) -> None:
        """A live photo is one item: its video goes with the photo. The video first, so a
        failure between the two leaves a photo without its motion (the user deletes it
        again), never a video hidden from the listing with no photo to show it."""
        photo = await self._catalog.get_image(tenant, image_id)
        video = linked_video(photo) if photo is not None else None
        if video is not None:
            with contextlib.suppress(NotFound):  # deleted already
                await self.delete(tenant, video)

    async def _queue_cleanup(self, job: CleanupJob) -> None:
        try:
            await self._bus.publish_cleanup(job)
            return
        except BusError as exc:
            log.warning(
                "cleanup of %s not queued (%s); removing its objects now", job.image_id, exc
            )
        try:
            await remove_objects(self._store, job)
        except StorageError as exc:
            # Bus and store both away: `gallery reconcile` finds these objects later.
            log.warning("objects of deleted image %s left for reconcile: %s", job.image_id, exc)


class CleanupService:
    """The cleanup lane's handler: remove a deleted image's objects."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def handle(self, delivery: Delivery[CleanupJob]) -> Outcome:
        """Ack once every object is gone; a StorageError propagates (the lane retries it)."""
        job, attempt = delivery.job, delivery.attempt
        removed = await remove_objects(self._store, job)
        log.info(
            "cleanup image=%s tenant=%s removed=%d attempt=%d",
            job.image_id,
            job.tenant,
            removed,
            attempt,
        )
        return Ack()


async def remove_orphaned_renditions(
    catalog: Catalog, store: ObjectStore, tenant: str, image_id: str
) -> bool:
    """After a render found no document to update: if the image was deleted meanwhile,
    remove the renditions the render stored after the delete. Returns whether it did."""
    if await catalog.get_image(tenant, image_id) is not None:
        return False
    await store.delete_prefix(names.rendition_prefix(tenant, image_id))
    return True
