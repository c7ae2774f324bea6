"""The one access policy, through the services on fakes: scopes decide what a key may do,
the admin key manages keys only, and a share link reads its album or image and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from pipeline.domain.access import Principal, ShareGrant
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import Forbidden, NotFound
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.albums import AlbumService
from pipeline.services.delete import DeleteService
from pipeline.services.events import EventFeed
from pipeline.services.images import ImageQueries
from pipeline.services.keys import KeyService
from pipeline.services.limits import UploadLimits
from tests.fakes import (
    FakeAlbums,
    FakeApiKeys,
    FakeBus,
    FakeCatalog,
    FakeEventLog,
    FakeObjectStore,
    FakeUsageCatalog,
    key_principal,
)

pytestmark = pytest.mark.unit
TENANT = "acme"


@dataclass
class World:
    catalog: FakeCatalog
    albums: FakeAlbums
    store: FakeObjectStore
    bus: FakeBus

    @property
    def queries(self) -> ImageQueries:
        return ImageQueries(self.catalog, self.albums, self.store)

    @property
    def album_service(self) -> AlbumService:
        return AlbumService(self.albums, self.bus)

    def image(self, tenant: str = TENANT, *, albums: list[str] | None = None) -> ImageRecord:
        image_id = new_image_id()
        record = ImageRecord(
            id=image_id,
            tenant=tenant,
            status="ready",
            sha256=image_id,
            content_type="image/jpeg",
            bytes=3,
            width=4,
            height=3,
            original_key=f"originals/{tenant}/{image_id}",
            albums=albums or [],
            metadata={"camera": "Canon", "gps": {"lat": 52.1, "lon": 5.1}},
        )
        self.catalog.images[image_id] = record
        self.store.objects[record.original_key] = (b"abc", "image/jpeg")
        return record

    def album(self, tenant: str = TENANT) -> str:
        record = AlbumRecord(id=new_image_id(), tenant=tenant, name="Holiday")
        self.albums.albums[record.id] = record
        return record.id


@pytest.fixture
def world() -> World:
    catalog = FakeCatalog()
    return World(catalog, FakeAlbums(catalog), FakeObjectStore(), FakeBus())


def link(album_id: str | None = None, image_id: str | None = None, **kw: bool) -> Principal:
    later = utcnow() + timedelta(hours=1)
    grant = ShareGrant("share1", TENANT, album_id, image_id, kw.get("allow_download", False), later)
    return Principal.link(grant)


async def test_a_read_only_key_reads_but_every_write_is_forbidden(world: World) -> None:
    reader = key_principal(TENANT, "read")
    photo = world.image()
    album = world.album()
    assert [r.id for r in (await world.queries.page(reader, limit=10)).items] == [photo.id]
    writes: list[Callable[[], Awaitable[object]]] = [
        lambda: world.album_service.create(reader, "New"),
        lambda: world.album_service.rename(reader, album, "Other"),
        lambda: world.album_service.delete(reader, album),
        lambda: world.album_service.add_image(reader, album, photo.id),
        lambda: world.album_service.remove_image(reader, album, photo.id),
        lambda: DeleteService(world.catalog, world.store, world.bus).delete(reader, photo.id),
        lambda: UploadLimits(FakeUsageCatalog(world.catalog), QuotaSettings()).admit(reader, 10),
    ]
    for write in writes:
        with pytest.raises(Forbidden) as refused:
            await write()
        assert refused.value.http_status == 403
    assert world.catalog.images[photo.id].albums == []
    assert world.bus.events == []


async def test_each_scope_opens_only_its_own_kind_of_write(world: World) -> None:
    photo = world.image()
    uploader = key_principal(TENANT, "upload")
    album = (await world.album_service.create(uploader, "Mine")).record.id
    await world.album_service.add_image(uploader, album, photo.id)
    with pytest.raises(Forbidden):
        await DeleteService(world.catalog, world.store, world.bus).delete(uploader, photo.id)
    with pytest.raises(Forbidden):
        await world.queries.get(uploader, photo.id)  # no read scope
    deleter = key_principal(TENANT, "delete")
    await DeleteService(world.catalog, world.store, world.bus).delete(deleter, photo.id)
    owner = key_principal(TENANT, "admin")  # admin holds every scope of its tenant
    assert (await world.queries.page(owner, limit=10)).items == []


async def test_the_admin_key_manages_keys_and_reads_no_photos(world: World) -> None:
    keys = KeyService(FakeApiKeys(), world.bus)
    admin = Principal.admin()
    made = await keys.create(admin, TENANT, "phone", ["read"])
    assert made.info.scopes == frozenset({"read"})
    assert (await keys.authenticate(made.info.key_hash)).scopes == frozenset({"read"})
    world.image()
    with pytest.raises(Forbidden):
        await world.queries.page(admin, limit=10)
    with pytest.raises(Forbidden):
        await keys.list_keys(key_principal(TENANT, "admin"))  # a tenant key is not the admin
    with pytest.raises(Forbidden):
        async with EventFeed(FakeEventLog(), queue_size=4).open(admin):
            pass


async def test_a_share_link_sees_its_album_and_nothing_else(world: World) -> None:
    album, other_album = world.album(), world.album()
    shared = world.image(albums=[album])
    elsewhere = world.image(albums=[other_album])
    loose = world.image()
    theirs = world.image("bob", albums=[album])  # a hostile id in another tenant
    who = link(album_id=album)
    world.catalog.images[shared.id] = shared.model_copy(update={"albums": [album, other_album]})
    page = await world.queries.page(who, limit=10)
    assert [r.id for r in page.items] == [shared.id]
    assert "gps" not in page.items[0].metadata, "a link never shows where a photo was taken"
    assert page.items[0].albums == [album], "nor the tenant's other albums"
    assert page.items[0].metadata["camera"] == "Canon"
    assert (await world.queries.get(who, shared.id)).id == shared.id
    for image_id in (elsewhere.id, loose.id, theirs.id, "nope"):
        with pytest.raises(NotFound):
            await world.queries.get(who, image_id)
    with pytest.raises(NotFound):
        await world.queries.page(who, limit=10, album=other_album)
    with pytest.raises(NotFound):
        await world.album_service.get(who, other_album)
    assert (await world.album_service.get(who, album)).record.id == album
    with pytest.raises(Forbidden):
        await world.album_service.page(who, limit=10, before=None)
    with pytest.raises(Forbidden):
        await world.album_service.create(who, "x")


async def test_a_photo_taken_out_of_the_album_leaves_the_link(world: World) -> None:
    album = world.album()
    shared = world.image(albums=[album])
    who = link(album_id=album)
    owner = key_principal(TENANT)
    await world.album_service.remove_image(owner, album, shared.id)
    assert (await world.queries.page(who, limit=10)).items == []
    with pytest.raises(NotFound):
        await world.queries.get(who, shared.id)


async def test_a_link_to_one_photo_and_its_download_switch(world: World) -> None:
    photo, other = world.image(), world.image()
    closed, open_ = link(image_id=photo.id), link(image_id=photo.id, allow_download=True)
    assert [r.id for r in (await world.queries.page(closed, limit=10)).items] == [photo.id]
    assert (await world.queries.page(closed, limit=10, before=photo.id)).items == []
    with pytest.raises(NotFound):
        await world.queries.get(closed, other.id)
    with pytest.raises(Forbidden):
        await world.queries.original(closed, photo.id)
    ref = await world.queries.original(open_, photo.id)
    assert await world.queries.size(ref) == 3
