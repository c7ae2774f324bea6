"""Albums through the service, on in-memory fakes: what a user of the album routes notices.

An image can be in several albums; deleting an album keeps its images; adding twice is one
change; another tenant's albums and images do not exist; every change is one event.
The same flows run through the gateway on real servers in ``tests/integration``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import pytest

from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import InputError, NotFound
from pipeline.domain.messages import AlbumEvent
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.services.albums import AlbumService
from pipeline.services.images import ImageQueries
from tests.fakes import FakeAlbums, FakeBus, FakeCatalog, FakeObjectStore, key_principal

pytestmark = pytest.mark.unit
TENANT = "acme"
WHO = key_principal(TENANT)


@dataclass
class World:
    catalog: FakeCatalog
    albums: FakeAlbums
    bus: FakeBus
    service: AlbumService
    queries: ImageQueries

    async def images(self, album: str, *, limit: int, before: str | None) -> list[ImageRecord]:
        """An album's listing, through the read side as the gateway asks it."""
        page = await self.queries.page(WHO, limit=limit, before=before, album=album)
        return page.items

    def image(self, tenant: str = TENANT) -> str:
        image_id = new_image_id()
        self.catalog.images[image_id] = ImageRecord(
            id=image_id,
            tenant=tenant,
            status="ready",
            sha256=image_id,
            content_type="image/jpeg",
            bytes=10,
            width=4,
            height=3,
            original_key=f"originals/{tenant}/{image_id}",
            seq=len(self.catalog.images) + 1,  # as the catalog numbers completions
        )
        return image_id

    def actions(self) -> list[tuple[str, str | None]]:
        return [(e.action, e.image_id) for e in self.bus.events if isinstance(e, AlbumEvent)]


@pytest.fixture
def world() -> World:
    catalog, bus = FakeCatalog(), FakeBus()
    albums = FakeAlbums(catalog)
    queries = ImageQueries(catalog, albums, FakeObjectStore())
    return World(catalog, albums, bus, AlbumService(albums, bus), queries)


async def test_an_album_is_created_named_and_empty(world: World) -> None:
    view = await world.service.create(WHO, "  Holiday 2026 ")
    assert (view.record.name, view.image_count, view.cover_image_id) == ("Holiday 2026", 0, None)
    assert (await world.service.get(WHO, view.record.id)).record == view.record
    assert world.actions() == [("created", None)]


@pytest.mark.parametrize("name", ["", "   ", None, 42, "x" * 201])
async def test_a_bad_name_is_refused_and_nothing_is_created(world: World, name: object) -> None:
    with pytest.raises(InputError) as refused:
        await world.service.create(WHO, name)
    assert "1 to 200 characters" in refused.value.public_message
    assert world.albums.albums == {}
    assert world.bus.events == []


async def test_an_image_can_be_in_several_albums(world: World) -> None:
    first = await world.service.create(WHO, "Holiday")
    second = await world.service.create(WHO, "Best of")
    photo, other = world.image(), world.image()
    for album in (first, second):
        await world.service.add_image(WHO, album.record.id, photo)
    await world.service.add_image(WHO, first.record.id, other)
    assert sorted(world.catalog.images[photo].albums) == sorted([first.record.id, second.record.id])
    listed = await world.images(first.record.id, limit=10, before=None)
    assert [r.id for r in listed] == [other, photo]  # newest first
    view = await world.service.get(WHO, first.record.id)
    assert (view.image_count, view.cover_image_id) == (2, other)


async def test_album_images_page_with_a_cursor(world: World) -> None:
    album = (await world.service.create(WHO, "Many")).record.id
    ids = [world.image() for _ in range(5)]
    for image_id in ids:
        await world.service.add_image(WHO, album, image_id)
    world.image()  # not in the album
    seen: list[str] = []
    before: int | None = None
    while True:
        page = await world.images(album, limit=2, before=before)
        seen += [r.id for r in page]
        if len(page) < 2:
            break
        before = page[-1].seq
    assert seen == list(reversed(ids))


async def test_adding_and_removing_twice_is_one_change(world: World) -> None:
    album = (await world.service.create(WHO, "Once")).record.id
    photo = world.image()
    await world.service.add_image(WHO, album, photo)
    await world.service.add_image(WHO, album, photo)
    await world.service.remove_image(WHO, album, photo)
    await world.service.remove_image(WHO, album, photo)
    assert world.actions() == [("created", None), ("image_added", photo), ("image_removed", photo)]
    assert world.catalog.images[photo].albums == []


async def test_deleting_an_album_keeps_its_images_and_their_other_albums(world: World) -> None:
    doomed = (await world.service.create(WHO, "Doomed")).record.id
    kept = (await world.service.create(WHO, "Kept")).record.id
    photo = world.image()
    await world.service.add_image(WHO, doomed, photo)
    await world.service.add_image(WHO, kept, photo)
    await world.service.delete(WHO, doomed)
    assert world.catalog.images[photo].albums == [kept]
    with pytest.raises(NotFound):
        await world.service.get(WHO, doomed)
    with pytest.raises(NotFound):
        await world.images(doomed, limit=10, before=None)
    assert world.actions()[-1] == ("deleted", None)


async def test_rename_changes_the_name_and_tells_listeners(world: World) -> None:
    album = (await world.service.create(WHO, "Old")).record.id
    renamed = await world.service.rename(WHO, album, "New")
    assert renamed.record.name == "New"
    assert (await world.service.page(WHO, limit=10, before=None))[0].record.name == "New"
    assert world.actions()[-1] == ("renamed", None)
    with pytest.raises(InputError):
        await world.service.rename(WHO, album, "")


async def test_another_tenants_albums_and_images_do_not_exist(world: World) -> None:
    mine = (await world.service.create(WHO, "Mine")).record.id
    theirs = (await world.service.create(key_principal("bob"), "Theirs")).record.id
    their_photo = world.image("bob")
    for call in (
        world.service.get(WHO, theirs),
        world.service.rename(WHO, theirs, "Taken"),
        world.service.delete(WHO, theirs),
        world.service.add_image(WHO, theirs, world.image()),
        world.service.add_image(WHO, mine, their_photo),
        world.service.remove_image(WHO, theirs, their_photo),
    ):
        with pytest.raises(NotFound):
            await call
    assert [v.record.id for v in await world.service.page(WHO, limit=10, before=None)] == [mine]
    assert world.catalog.images[their_photo].albums == []
    assert world.albums.albums[theirs].name == "Theirs"


async def test_an_album_deleted_during_an_add_leaves_no_dangling_id(world: World) -> None:
    album = (await world.service.create(WHO, "Racing")).record.id
    photo = world.image()
    real_add = world.albums.add_to_album

    async def add_while_deleted(tenant: str, album_id: str, image_id: str) -> bool | None:
        added = await real_add(tenant, album_id, image_id)
        del world.albums.albums[album_id]  # another request deleted the album meanwhile
        return added

    world.albums.add_to_album = add_while_deleted  # type: ignore[method-assign]
    with pytest.raises(NotFound):
        await world.service.add_image(WHO, album, photo)
    assert world.catalog.images[photo].albums == []


async def test_a_name_typed_decomposed_is_kept_composed(world: World) -> None:
    # "é" as e + U+0301 (macOS file names, some input methods) and as one code point are
    # one name: kept in NFC, so the CLI and the UI find one album, never a twin.
    composed = "Caf\u00e9 \u00e0 Montr\u00e9al"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    view = await world.service.create(WHO, decomposed)
    assert view.record.name == composed
    renamed = await world.service.rename(WHO, view.record.id, decomposed + " 2")
    assert renamed.record.name == composed + " 2"


def test_a_name_stored_decomposed_reads_back_composed() -> None:
    stored = {"_id": new_image_id(), "tenant": TENANT, "name": unicodedata.normalize("NFD", "Café")}
    assert AlbumRecord.model_validate(stored).name == "Caf\u00e9"
