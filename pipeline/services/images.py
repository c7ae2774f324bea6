"""The read side: images and their bytes, as one principal may see them.

Every read of an image document or of a stored object by the gateway goes through
:class:`ImageQueries`, which asks the :class:`~pipeline.services.access.AccessPolicy`
first. An image out of reach answers NotFound exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from urllib.parse import quote

from pipeline.domain.access import Principal
from pipeline.domain.errors import Conflict, Forbidden, NotFound
from pipeline.domain.models import ImageRecord, Rendition
from pipeline.domain.objects import ObjectStore
from pipeline.services.access import AccessPolicy, Reader, no_album
from pipeline.services.ports import Albums, Catalog


@dataclass(frozen=True)
class ObjectRef:
    """Bytes the caller may read: store key, content type, strong ETag (quoted)."""

    key: str
    content_type: str
    etag: str
    disposition: str = "inline"
    """``inline`` (renditions) or ``attachment`` (originals: whatever a user sent is saved,
    never shown as a page of our origin)."""
    filename: str | None = None

    @property
    def content_disposition(self) -> str:
        """RFC 6266: an ASCII ``filename`` fallback and the exact name as ``filename*``."""
        if not self.filename:
            return self.disposition
        fallback = "".join(
            c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in self.filename
        )
        exact = quote(self.filename, safe="")
        return f"{self.disposition}; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


@dataclass(frozen=True)
class Page:
    """One page of images and the cursor of the next (None on the last page): the ``seq``
    of the page's last image, as text."""

    items: list[ImageRecord]
    next_cursor: str | None


class ImageQueries:
    def __init__(
        self,
        catalog: Catalog,
        albums: Albums,
        store: ObjectStore,
        policy: AccessPolicy | None = None,
    ) -> None:
        self._catalog = catalog
        self._albums = albums
        self._store = store
        self._policy = policy or AccessPolicy()

    async def page(
        self,
        who: Principal,
        *,
        limit: int,
        before: int | None = None,
        album: str | None = None,
        status: str | None = None,
    ) -> Page:
        """Newest completed first, ``limit`` at most, ``seq`` below ``before``; only
        ``album``'s images and only those in ``status`` when given. NotFound for an album
        out of reach."""
        reader = self._policy.reader(who)
        album = await self._album_filter(reader, album)
        if reader.image_id is not None:
            records = await self._one(reader, reader.image_id, before, status)
        else:
            records = await self._catalog.list_images(
                reader.tenant, limit=limit + 1, before=before, album=album, status=status
            )
        return _page([reader.shown(r) for r in records], limit)

    async def trash(self, who: Principal, *, limit: int, before: int | None = None) -> Page:
        """The tenant's trash, newest completed first, paged like :meth:`page`."""
        tenant = self._policy.tenant(who, "read")
        return _page(await self._catalog.list_trash(tenant, limit=limit + 1, before=before), limit)

    async def get(self, who: Principal, image_id: str, *, trash: bool = False) -> ImageRecord:
        """One image (one in the trash when ``trash``); NotFound when it does not exist or
        is out of reach."""
        reader = self._policy.reader(who)
        record = await self._catalog.get_image(reader.tenant, image_id)
        return self._policy.visible(who, record, trash=trash)

    async def original(self, who: Principal, image_id: str, *, trash: bool = False) -> ObjectRef:
        """The original's bytes; Forbidden for a share link that does not allow downloads."""
        record = await self.get(who, image_id, trash=trash)
        if not self._policy.reader(who).originals:
            raise Forbidden("download", public_message="this link does not allow downloads")
        return ObjectRef(
            record.original_key,
            record.content_type,
            f'"{record.sha256}"',
            disposition="attachment",
            filename=record.filename or record.id,
        )

    async def rendition(
        self, who: Principal, image_id: str, name: str, *, trash: bool = False
    ) -> tuple[ImageRecord, Rendition]:
        """The image and its rendition ``name``; Conflict (409) while the image is not
        ready, NotFound for a name the image does not have."""
        record = await self.get(who, image_id, trash=trash)
        rendition = record.renditions.get(name)
        if rendition is None:
            if record.status != "ready":
                raise Conflict("not ready", public_message=f"image is {record.status}, not ready")
            raise NotFound("no such rendition", public_message=f"no rendition named {name!r}")
        return record, rendition

    async def size(self, ref: ObjectRef) -> int:
        """Bytes stored under ``ref``; ObjectNotFound (404) when they are gone."""
        return (await self._store.stat(ref.key)).size

    def stream(self, ref: ObjectRef, *, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """Bytes ``start`` up to ``end`` (exclusive) of ``ref``."""
        return self._store.stream(ref.key, start=start, end=end)

    async def presigned(self, ref: ObjectRef) -> str | None:
        """A URL for the store's bytes, or None when the store has none to hand out."""
        return await self._store.presigned_get(
            ref.key, content_type=ref.content_type, disposition=ref.content_disposition
        )

    async def _album_filter(self, reader: Reader, album: str | None) -> str | None:
        if reader.album_id is not None:
            if album is not None and album != reader.album_id:
                raise no_album()
            return reader.album_id
        if album is not None and (
            reader.image_id is not None
            or await self._albums.get_album(reader.tenant, album) is None
        ):
            raise no_album()
        return album

    async def _one(
        self, reader: Reader, image_id: str, before: int | None, status: str | None
    ) -> list[ImageRecord]:
        """A link to one image lists that image, on the first page only."""
        record = await self._catalog.get_image(reader.tenant, image_id)
        if record is None or not reader.admits(record) or before is not None:
            return []
        if status and record.status != status:
            return []
        return [record]


def _page(records: list[ImageRecord], limit: int) -> Page:
    """The first ``limit`` of ``limit + 1`` records fetched, and the next page's cursor."""
    shown = records[:limit]
    more = len(records) > limit and bool(shown)
    return Page(shown, str(shown[-1].seq) if more else None)
