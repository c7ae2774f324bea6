"""In-memory fakes of the services' ports, for the services unit tests.

Each is typed against its protocol in :mod:`pipeline.services.ports` (mypy checks the
assignments at the bottom) and keeps the adapters' observable rules: the catalog's guarded
status transitions and tenant+SHA-256 uniqueness, the store's missing-key errors. A test
breaks a backend by setting ``fail_with`` to the error the adapter would raise.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import BusError, DuplicateImage, ObjectNotFound, PipelineError
from pipeline.domain.messages import Event, ImageEvent, RenderJob, StoredDeadLetter, utcnow
from pipeline.domain.models import ImageRecord, Rendition, Status
from pipeline.imaging.render import RenderedRendition, RenderResult
from pipeline.imaging.spec import RenditionSpec
from pipeline.services import ports

_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


def _expired(record: ImageRecord, now: datetime) -> bool:
    return record.lease_expires_at is not None and record.lease_expires_at < now


class FakeCatalog:
    def __init__(self) -> None:
        self.images: dict[str, ImageRecord] = {}

    def _guarded(
        self, tenant: str, image_id: str, statuses: Sequence[Status], **update: Any
    ) -> ImageRecord | None:
        record = self.images.get(image_id)
        if record is None or record.tenant != tenant or record.status not in statuses:
            return None
        updated = record.model_copy(update={"updated_at": utcnow(), **update})
        self.images[image_id] = updated
        return updated

    async def insert_image(self, record: ImageRecord) -> None:
        for existing in self.images.values():
            if (existing.tenant, existing.sha256) == (record.tenant, record.sha256):
                raise DuplicateImage(existing, existing.id)
        self.images[record.id] = record

    async def get_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        record = self.images.get(image_id)
        return record if record is not None and record.tenant == tenant else None

    async def list_images(
        self, tenant: str, *, limit: int, before: str | None = None, album: str | None = None
    ) -> list[ImageRecord]:
        found = [
            r
            for r in self.images.values()
            if r.tenant == tenant
            and (before is None or r.id < before)
            and (album is None or album in r.albums)
        ]
        return sorted(found, key=lambda r: r.id, reverse=True)[:limit]

    def _held(self, tenant: str, image_id: str, owner: str | None) -> ImageRecord | None:
        record = self.images.get(image_id)
        if record is None or record.tenant != tenant or record.status != "processing":
            return None
        return record if record.lease_owner == owner else None

    def _update(self, record: ImageRecord, **update: Any) -> ImageRecord:
        updated = record.model_copy(update={"updated_at": utcnow(), **update})
        self.images[record.id] = updated
        return updated

    async def claim(
        self, tenant: str, image_id: str, *, owner: str, lease: timedelta
    ) -> ImageRecord | None:
        record = await self.get_image(tenant, image_id)
        if record is None or record.status not in ("queued", "processing"):
            return None
        now = utcnow()
        held = record.status == "processing" and record.lease_owner is not None
        expired = record.lease_expires_at is not None and record.lease_expires_at < now
        if held and not expired:
            return None  # a live lease: someone is rendering it
        return self._update(
            record,
            status="processing",
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=record.attempts + 1,
            crashes=record.crashes + int(held),
        )

    async def renew(self, tenant: str, image_id: str, *, owner: str, lease: timedelta) -> bool:
        record = self._held(tenant, image_id, owner)
        if record is not None:
            self.images[image_id] = record.model_copy(update={"lease_expires_at": utcnow() + lease})
        return record is not None

    async def release(
        self, tenant: str, image_id: str, *, owner: str, error: str, crashed: bool = False
    ) -> ImageRecord | None:
        record = self._held(tenant, image_id, owner)
        if record is None:
            return None
        return self._update(
            record,
            lease_owner=None,
            lease_expires_at=utcnow(),
            last_error=error,
            crashes=record.crashes + int(crashed),
        )

    async def requeue_round(
        self, tenant: str, image_id: str, *, owner: str, error: str
    ) -> ImageRecord | None:
        record = self._held(tenant, image_id, owner)
        if record is None:
            return None
        return self._update(
            record, **_NO_LEASE, status="queued", last_error=error, rounds=record.rounds + 1
        )

    async def mark_ready(
        self,
        tenant: str,
        image_id: str,
        *,
        renditions: dict[str, Rendition],
        width: int,
        height: int,
        frames: int,
        metadata: dict[str, Any],
        thumbhash: str,
        owner: str | None = None,
        rerender: bool = False,
    ) -> ImageRecord | None:
        fields: dict[str, Any] = {
            "status": "ready",
            "renditions": renditions,
            "width": width,
            "height": height,
            "frames": frames,
            "metadata": metadata,
            "thumbhash": thumbhash,
            "failure": None,
        }
        if rerender:
            return self._guarded(tenant, image_id, ("ready",), **fields)
        record = self._held(tenant, image_id, owner)
        if record is None:
            return None
        return self._update(record, **fields, **_NO_LEASE, ready_at=utcnow())

    async def mark_failed(
        self, tenant: str, image_id: str, reason: str, *, owner: str | None = None
    ) -> ImageRecord | None:
        fields: dict[str, Any] = {**_NO_LEASE, "status": "failed", "failure": reason}
        if owner is None:
            return self._guarded(tenant, image_id, ("queued", "processing"), **fields)
        record = self._held(tenant, image_id, owner)
        return None if record is None else self._update(record, **fields)

    async def requeue(self, tenant: str, image_id: str) -> ImageRecord | None:
        return self._guarded(
            tenant,
            image_id,
            ("failed",),
            **_NO_LEASE,
            status="queued",
            failure=None,
            last_error=None,
            attempts=0,
            crashes=0,
            rounds=0,
        )

    async def delete_image(self, tenant: str, image_id: str) -> ImageRecord | None:
        record = await self.get_image(tenant, image_id)
        if record is not None:
            del self.images[image_id]
        return record

    async def stale_unfinished(self, older_than: timedelta, limit: int = 500) -> list[ImageRecord]:
        cutoff = utcnow() - older_than

        def stale(r: ImageRecord) -> bool:
            if r.status == "queued":
                return r.updated_at < cutoff
            expiry = r.lease_expires_at
            return r.status == "processing" and expiry is not None and expiry < cutoff

        return [r for r in self.images.values() if stale(r)][:limit]

    async def touch(self, tenant: str, image_id: str) -> None:
        record = await self.get_image(tenant, image_id)
        now = utcnow()
        if record is not None and record.status == "queued":
            self._update(record)
        elif record is not None and record.status == "processing" and _expired(record, now):
            self.images[image_id] = record.model_copy(update={"lease_expires_at": now})

    def _outdated(self, current: dict[str, str]) -> list[ImageRecord]:
        def stale(r: ImageRecord) -> bool:
            have = {name: rend.spec_hash for name, rend in r.renditions.items()}
            return any(have.get(name) != h for name, h in current.items())

        ready = (r for r in self.images.values() if r.status == "ready")
        return sorted((r for r in ready if stale(r)), key=lambda r: r.id)

    async def count_outdated(self, current: dict[str, str]) -> int:
        return len(self._outdated(current))

    async def outdated(
        self, current: dict[str, str], *, after: str | None, limit: int
    ) -> list[ImageRecord]:
        return [r for r in self._outdated(current) if after is None or r.id > after][:limit]


class FakeAlbums:
    """Albums over a :class:`FakeCatalog`: membership lives on its image records."""

    def __init__(self, catalog: FakeCatalog) -> None:
        self.catalog = catalog
        self.albums: dict[str, AlbumRecord] = {}

    async def insert_album(self, record: AlbumRecord) -> None:
        self.albums[record.id] = record

    async def get_album(self, tenant: str, album_id: str) -> AlbumRecord | None:
        record = self.albums.get(album_id)
        return record if record is not None and record.tenant == tenant else None

    async def list_albums(
        self, tenant: str, *, limit: int, before: str | None = None
    ) -> list[AlbumRecord]:
        mine = [a for a in self.albums.values() if a.tenant == tenant]
        page = [a for a in mine if before is None or a.id < before]
        return sorted(page, key=lambda a: a.id, reverse=True)[:limit]

    async def rename_album(self, tenant: str, album_id: str, name: str) -> AlbumRecord | None:
        record = await self.get_album(tenant, album_id)
        if record is None:
            return None
        self.albums[album_id] = record.model_copy(update={"name": name, "updated_at": utcnow()})
        return self.albums[album_id]

    async def delete_album(self, tenant: str, album_id: str) -> AlbumRecord | None:
        record = await self.get_album(tenant, album_id)
        if record is not None:
            del self.albums[album_id]
            for image in list(self.catalog.images.values()):
                if image.tenant == tenant:
                    self._set_albums(image, [a for a in image.albums if a != album_id])
        return record

    def _set_albums(self, image: ImageRecord, albums: list[str]) -> None:
        self.catalog.images[image.id] = image.model_copy(update={"albums": albums})

    async def add_to_album(self, tenant: str, album_id: str, image_id: str) -> bool | None:
        image = await self.catalog.get_image(tenant, image_id)
        if image is None:
            return None
        if album_id in image.albums:
            return False
        self._set_albums(image, [*image.albums, album_id])
        return True

    async def remove_from_album(self, tenant: str, album_id: str, image_id: str) -> bool:
        image = await self.catalog.get_image(tenant, image_id)
        if image is None or album_id not in image.albums:
            return False
        self._set_albums(image, [a for a in image.albums if a != album_id])
        return True

    async def album_stats(self, tenant: str, album_id: str) -> tuple[int, str | None]:
        ids = sorted(
            r.id
            for r in self.catalog.images.values()
            if r.tenant == tenant and album_id in r.albums
        )
        return len(ids), (ids[-1] if ids else None)


@dataclass
class FakeObjectStore:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    fail_with: PipelineError | None = None

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        self._check()
        data = b"".join([chunk async for chunk in chunks])
        self.objects[key] = (data, content_type)
        return len(data)

    async def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        self._check()
        self.objects[key] = (data, content_type)

    async def get_bytes(self, key: str) -> bytes:
        self._check()
        if key not in self.objects:
            raise ObjectNotFound(f"no object {key}")
        return self.objects[key][0]

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        keys = await self.list_keys(prefix)
        for key in keys:
            del self.objects[key]
        return len(keys)

    async def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


@dataclass
class FakeBus:
    jobs: list[RenderJob] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    letters: list[StoredDeadLetter] = field(default_factory=list)
    down: bool = False

    async def publish_job(self, job: RenderJob) -> None:
        if self.down:
            raise BusError("bus is down")
        self.jobs.append(job)

    async def publish_event(self, event: Event) -> None:
        if not self.down:  # events are best effort, as on the real bus
            self.events.append(event)

    async def dead_letters(self, limit: int = 1000) -> list[StoredDeadLetter]:
        return self.letters[:limit]

    async def remove_dead_letter(self, seq: int) -> None:
        self.letters = [s for s in self.letters if s.seq != seq]

    def event_types(self, image_id: str) -> list[str]:
        return [e.type for e in self.events if isinstance(e, ImageEvent) and e.image_id == image_id]


@dataclass
class FakeRenderer:
    """Renders every spec entry as a few fixed bytes; ``during`` runs while it "renders"."""

    spec: Sequence[RenditionSpec]
    fail_with: PipelineError | None = None
    during: Callable[[], Awaitable[None]] | None = None
    calls: int = 0

    async def render(self, original: bytes) -> RenderResult:
        self.calls += 1
        if self.during is not None:
            await self.during()
        if self.fail_with is not None:
            raise self.fail_with
        return RenderResult(
            width=640,
            height=480,
            frames=1,
            metadata={},
            thumbhash="AAAA",
            renditions=tuple(_rendered(s) for s in self.spec),
            decode_seconds=0.0,
        )


def _rendered(spec: RenditionSpec) -> RenderedRendition:
    return RenderedRendition(
        name=spec.name,
        spec_hash=spec.spec_hash,
        data=f"{spec.name}-{spec.spec_hash}".encode(),
        width=spec.width,
        height=spec.height,
        extension=spec.format,
        content_type=f"image/{spec.format}",
        seconds=0.0,
    )


# mypy checks that each fake satisfies its port.
_catalog: ports.Catalog = FakeCatalog()
_albums: ports.Albums = FakeAlbums(FakeCatalog())
_store: ports.ObjectStore = FakeObjectStore()
_bus: ports.Bus = FakeBus()
_renderer: ports.Renderer = FakeRenderer(spec=())
