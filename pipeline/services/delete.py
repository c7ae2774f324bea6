"""Delete: into the trash, out of it again, and for good: the document, then a cleanup job
for its objects; and the rule for a delete that races a render.

A delete moves the photo into the trash (``trashed_at``): it leaves every listing, link and
album count, keeps its objects, and counts towards the quota; it can be restored, and the
purge sweeper deletes it for good after ``GALLERY_TRASH_RETENTION_DAYS``. ``permanent``
(``?permanent=true``), emptying the trash and the purge all delete for good, as follows.

For good, the document goes first: from then on nobody can reach the objects. Their removal is a
:class:`~pipeline.domain.messages.CleanupJob` on the bus (``gallery.job.cleanup``), which
the worker's cleanup lane (:class:`CleanupService`) retries with backoff until the store
answers, so a store outage during a delete loses nothing and, once it is over, leaves
nothing. A worker that was rendering meanwhile finds no document to mark ready and calls
:func:`remove_orphaned_renditions`, which removes what it stored after the delete ran.
Both halves of that race live here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pipeline.domain import names
from pipeline.domain.access import Principal
from pipeline.domain.errors import BusError, StorageError
from pipeline.domain.messages import CleanupJob, ImageEvent, ImageEventType, utcnow
from pipeline.domain.models import ImageRecord
from pipeline.domain.objects import ObjectStore
from pipeline.domain.outcomes import Ack, Delivery, Outcome
from pipeline.services.access import AccessPolicy, no_image
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
    def __init__(
        self,
        catalog: Catalog,
        store: ObjectStore,
        bus: CleanupPublisher,
        policy: AccessPolicy | None = None,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._bus = bus
        self._policy = policy or AccessPolicy()

    async def delete(
        self, who: Principal, image_id: str, *, permanent: bool = False
    ) -> ImageRecord:
        """Move one image of ``who``'s tenant into the trash, or delete it for good when
        ``permanent`` (also one in the trash); raises :class:`NotFound` (also for another
        tenant's), Forbidden without the ``delete`` scope.

        For good, it succeeds once the document is gone: the objects follow through the
        cleanup job.
        """
        tenant = self._policy.tenant(who, "delete")
        if permanent:
            await self._delete_live_video(tenant, image_id)
            record = await self._catalog.delete_image(tenant, image_id)
        else:
            record = await self._catalog.trash_image(tenant, image_id)
        if record is None:
            raise no_image()
        if permanent:
            await self._gone(record)
        else:
            await self._tell(record, "trashed")
        return record

    async def trash_album(self, who: Principal, album_id: str, *, batch: int = 500) -> int:
        """Move every photo of the album into the trash (before the album itself goes);
        returns how many. The album is not checked here: an unknown one has no photos."""
        tenant, trashed = self._policy.tenant(who, "delete"), 0
        # Each trashed photo leaves the listing, so the first page is always the next one.
        while page := await self._catalog.list_images(tenant, limit=batch, album=album_id):
            for record in page:
                if (done := await self._catalog.trash_image(tenant, record.id)) is not None:
                    await self._tell(done, "trashed")
                    trashed += 1
        return trashed

    async def restore(self, who: Principal, image_id: str) -> ImageRecord:
        """Take an image out of the trash; NotFound unless it is in the tenant's trash."""
        record = await self._catalog.restore_image(self._policy.tenant(who, "delete"), image_id)
        if record is None:
            raise no_image()
        await self._tell(record, "restored")
        return record

    async def empty(self, who: Principal, *, batch: int = 500) -> int:
        """Delete everything in the tenant's trash for good; returns how many went."""
        tenant = self._policy.tenant(who, "delete")
        now, purged = utcnow(), 0
        while page := await self._catalog.list_trash(tenant, limit=batch):
            for record in page:
                purged += await self._purge(record, now)
            if len(page) < batch:
                break
        return purged

    async def purge_expired(self, retention: timedelta, *, limit: int = 500) -> int:
        """The sweeper's pass: delete for good what has been in any tenant's trash longer
        than ``retention``; returns how many went (at most ``limit`` a pass)."""
        cutoff, purged = utcnow() - retention, 0
        for record in await self._catalog.trashed_before(cutoff, limit):
            purged += await self._purge(record, cutoff)
        return purged

    async def _purge(self, record: ImageRecord, trashed_before: datetime) -> int:
        # Guarded: an image restored since it was read stays.
        gone = await self._catalog.delete_image(
            record.tenant, record.id, trashed_before=trashed_before
        )
        if gone is None:
            return 0
        await self._gone(gone)
        await self._forget_video(gone)
        return 1

    async def _gone(self, record: ImageRecord) -> None:
        await self._queue_cleanup(cleanup_job(record))
        await self._tell(record, "deleted")
        if record.motion_of is not None:  # a live photo's video, deleted on its own
            await self._catalog.unlink_motion(record.tenant, record.motion_of, record.id)

    async def _delete_live_video(self, tenant: str, image_id: str) -> None:
        """A live photo is one item: its video goes for good with the photo. The video
        first, so a failure between the two leaves a photo without its motion (deleted
        again), never a video hidden from the listing with no photo to show it."""
        photo = await self._catalog.get_image(tenant, image_id)
        if photo is not None:
            await self._forget_video(photo)

    async def _forget_video(self, photo: ImageRecord) -> None:
        """Delete for good the live photo video that plays in ``photo``, if any."""
        video = linked_video(photo)
        if video is not None and (gone := await self._catalog.delete_image(photo.tenant, video)):
            await self._gone(gone)

    async def _tell(self, record: ImageRecord, what: ImageEventType) -> None:
        await self._bus.publish_event(
            ImageEvent(type=what, image_id=record.id, tenant=record.tenant)
        )

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
