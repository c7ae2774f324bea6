"""Albums: create, list, rename and delete a tenant's albums; put images in and take them out.

Every call is made by a principal and scoped to its tenant by the access policy (reading
needs ``read``, creating, renaming and filing images ``upload``, deleting an album or
taking an image out ``delete``): another tenant's album or image answers
:class:`NotFound` exactly like one that does not exist. Each change that happened is an
``album`` event (created, renamed, deleted, image_added, image_removed); an idempotent
repeat that changes nothing publishes nothing.
"""

from __future__ import annotations

import logging

from pipeline.domain.access import Principal
from pipeline.domain.albums import AlbumRecord, AlbumView, album_name
from pipeline.domain.messages import AlbumAction, AlbumEvent
from pipeline.domain.models import new_image_id
from pipeline.runtime.settings import SweeperSettings
from pipeline.services.access import AccessPolicy, no_album, no_image
from pipeline.services.ports import Albums, EventPublisher

log = logging.getLogger(__name__)


class AlbumService:
    def __init__(
        self,
        albums: Albums,
        bus: EventPublisher,
        policy: AccessPolicy | None = None,
        *,
        sweeper: SweeperSettings | None = None,
    ) -> None:
        self._albums = albums
        self._bus = bus
        self._policy = policy or AccessPolicy()
        self._batch = (sweeper or SweeperSettings()).batch_size

    async def create(self, who: Principal, name: object) -> AlbumView:
        """A new empty album; raises InputError for a name that is not 1..200 characters."""
        tenant = self._policy.tenant(who, "upload")
        record = AlbumRecord(id=new_image_id(), tenant=tenant, name=album_name(name))
        await self._albums.insert_album(record)
        await self._tell(record, "created")
        return AlbumView(record, image_count=0, cover_image_id=None)

    async def get(self, who: Principal, album_id: str) -> AlbumView:
        """One album; NotFound for one out of reach (a share link sees only its own)."""
        reader = self._policy.reader(who)
        if reader.narrowed and album_id != reader.album_id:
            raise no_album()
        return await self._view(await self.check(reader.tenant, album_id))

    async def page(self, who: Principal, *, limit: int, before: str | None) -> list[AlbumView]:
        """Newest first; ``before`` is the last id of the previous page."""
        tenant = self._policy.tenant(who, "read")
        records = await self._albums.list_albums(tenant, limit=limit, before=before)
        return [await self._view(record) for record in records]

    async def rename(self, who: Principal, album_id: str, name: object) -> AlbumView:
        tenant = self._policy.tenant(who, "upload")
        record = await self._albums.rename_album(tenant, album_id, album_name(name))
        if record is None:
            raise no_album()
        await self._tell(record, "renamed")
        return await self._view(record)

    async def delete(self, who: Principal, album_id: str) -> None:
        """Delete the album; its images stay (and stay in their other albums). An album of
        up to ``batch_size`` images comes off them now; a larger one's first ``batch_size``
        do, the rest in the workers' sweeps (a bounded request however large the album)."""
        tenant = self._policy.tenant(who, "delete")
        record = await self._albums.delete_album(tenant, album_id)
        if record is None:
            raise no_album()
        await self._albums.take_off(tenant, album_id, batch=self._batch, most=self._batch)
        await self._tell(record, "deleted")

    async def add_image(self, who: Principal, album_id: str, image_id: str) -> None:
        """Idempotent: adding an image that is in the album already changes nothing."""
        await self.file_image(self._policy.tenant(who, "upload"), album_id, image_id)

    async def file_image(self, tenant: str, album_id: str, image_id: str) -> None:
        """``add_image`` for an upload already admitted (a tus upload's album, on completion)."""
        record = await self.check(tenant, album_id)
        added = await self._albums.add_to_album(tenant, album_id, image_id)
        if added is None:
            raise no_image()
        if await self._albums.get_album(tenant, album_id) is None:
            # The album was deleted while we added to it: take the dangling id back off.
            await self._albums.remove_from_album(tenant, album_id, image_id)
            raise no_album()
        if added:
            await self._tell(record, "image_added", image_id)

    async def remove_image(self, who: Principal, album_id: str, image_id: str) -> None:
        """Idempotent: removing an image that is not in the album changes nothing."""
        tenant = self._policy.tenant(who, "delete")
        record = await self.check(tenant, album_id)
        if await self._albums.remove_from_album(tenant, album_id, image_id):
            await self._tell(record, "image_removed", image_id)

    async def check(self, tenant: str, album_id: str) -> AlbumRecord:
        """``tenant``'s album ``album_id``; NotFound when it has none of that id."""
        record = await self._albums.get_album(tenant, album_id)
        if record is None:
            raise no_album()
        return record

    async def _view(self, record: AlbumRecord) -> AlbumView:
        count, cover = await self._albums.album_stats(record.tenant, record.id)
        return AlbumView(record, image_count=count, cover_image_id=cover)

    async def _tell(
        self, record: AlbumRecord, action: AlbumAction, image_id: str | None = None
    ) -> None:
        await self._bus.publish_event(
            AlbumEvent(album_id=record.id, tenant=record.tenant, action=action, image_id=image_id)
        )


async def finish_album_deletes(albums: Albums, settings: SweeperSettings) -> int:
    """The sweeper's share of album deletion: take deleted albums off their images,
    ``batch_size`` images per write, at most ``max_per_pass`` per sweep; how many changed."""
    done = await albums.finish_deletes(batch=settings.batch_size, most=settings.max_per_pass)
    if done:
        log.info("sweeper: took %d image(s) off deleted albums", done)
    return done
