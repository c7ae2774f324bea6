"""Delete: the document, then its objects; and the rule for a delete that races a render.

The document goes first: from then on nobody can reach the objects. A worker that was
rendering meanwhile finds no document to mark ready and calls
:func:`remove_orphaned_renditions`, which removes what it stored after the delete ran.
Both halves of that race live here.
"""

from __future__ import annotations

from pipeline.domain import names
from pipeline.domain.errors import NotFound
from pipeline.domain.messages import ImageEvent
from pipeline.domain.models import ImageRecord
from pipeline.services.ports import Catalog, EventPublisher, ObjectStore


class DeleteService:
    def __init__(self, catalog: Catalog, store: ObjectStore, bus: EventPublisher) -> None:
        self._catalog = catalog
        self._store = store
        self._bus = bus

    async def delete(self, tenant: str, image_id: str) -> ImageRecord:
        """Delete one image of ``tenant``; raises :class:`NotFound` (also for another tenant's)."""
        record = await self._catalog.delete_image(tenant, image_id)
        if record is None:
            raise NotFound("no such image", public_message="no such image")
        await self._store.delete(record.original_key)
        await self._store.delete_prefix(names.rendition_prefix(tenant, record.id))
        await self._bus.publish_event(ImageEvent(type="deleted", image_id=record.id, tenant=tenant))
        return record


async def remove_orphaned_renditions(
    catalog: Catalog, store: ObjectStore, tenant: str, image_id: str
) -> bool:
    """After a render found no document to update: if the image was deleted meanwhile,
    remove the renditions the render stored after the delete. Returns whether it did."""
    if await catalog.get_image(tenant, image_id) is not None:
        return False
    await store.delete_prefix(names.rendition_prefix(tenant, image_id))
    return True
