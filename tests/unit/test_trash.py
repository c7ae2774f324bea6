"""The trash through the services on fakes: a delete moves a photo there (out of every
listing, objects kept, quota still counted), restore brings it back, the same bytes again
restore it, emptying and the purge after the retention delete for good with today's
cleanup guarantees, and ``permanent`` skips the trash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.domain.access import Principal, ShareGrant
from pipeline.domain.errors import NotFound, QuotaExceeded
from pipeline.domain.messages import utcnow
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.images import ImageQueries
from pipeline.services.limits import UploadLimits
from tests.fakes import FakeAlbums, FakeUsageCatalog, key_principal
from tests.images import jpeg_bytes
from tests.unit.test_services import TENANT, World, body, world

__all__ = ["world"]
pytestmark = pytest.mark.unit
OWNER = key_principal(TENANT)


def queries(world: World) -> ImageQueries:
    return ImageQueries(world.catalog, FakeAlbums(world.catalog), world.store)


async def ready(world: World, seed: int) -> str:
    record = (await world.ingest().ingest(TENANT, body(jpeg_bytes(64, 64, seed=seed)))).record
    await world.run_job(record)
    return record.id


async def test_a_delete_moves_the_photo_to_the_trash_and_restore_brings_it_back(
    world: World,
) -> None:
    kept, doomed = await ready(world, 1), await ready(world, 2)
    objects = set(world.store.objects)
    await world.delete().delete(OWNER, doomed)
    view = queries(world)
    assert [r.id for r in (await view.page(OWNER, limit=10)).items] == [kept]
    with pytest.raises(NotFound):
        await view.get(OWNER, doomed)
    assert [r.id for r in (await view.trash(OWNER, limit=10)).items] == [doomed]
    assert (await view.get(OWNER, doomed, trash=True)).trashed_at is not None
    assert set(world.store.objects) == objects, "the trash keeps every object"
    with pytest.raises(NotFound):
        await world.delete().delete(OWNER, doomed)  # already in the trash

    await world.delete().restore(OWNER, doomed)
    assert sorted(r.id for r in (await view.page(OWNER, limit=10)).items) == sorted([kept, doomed])
    assert (await view.trash(OWNER, limit=10)).items == []
    with pytest.raises(NotFound):
        await world.delete().restore(OWNER, doomed)  # not in the trash any more
    with pytest.raises(NotFound):
        await world.delete().restore(key_principal("bob"), kept)
    assert world.bus.event_types(doomed)[-2:] == ["trashed", "restored"]


async def test_the_same_bytes_again_restore_the_trashed_photo(world: World) -> None:
    data = jpeg_bytes(64, 64, seed=5)
    first = (await world.ingest().ingest(TENANT, body(data))).record
    await world.delete().delete(OWNER, first.id)
    again = await world.ingest().ingest(TENANT, body(data, filename="again.jpg"))
    assert again.duplicate
    assert (again.record.id, again.record.trashed_at) == (first.id, None)
    assert list(world.catalog.images) == [first.id], "no second photo"
    assert world.bus.event_types(first.id)[-1] == "restored"


async def test_the_trash_counts_towards_the_quota_until_purged(world: World) -> None:
    photo = await ready(world, 3)
    await world.delete().delete(OWNER, photo)
    limits = UploadLimits(FakeUsageCatalog(world.catalog), QuotaSettings(max_images=1))
    with pytest.raises(QuotaExceeded):
        await limits.admit(OWNER, 10)
    await world.delete().empty(OWNER)
    assert await limits.admit(OWNER, 10) == TENANT


async def test_the_purge_deletes_for_good_after_the_retention_only(world: World) -> None:
    trashed, restored, kept = await ready(world, 4), await ready(world, 5), await ready(world, 6)
    for image_id in (trashed, restored):
        await world.delete().delete(OWNER, image_id)
    service = world.delete()
    assert await service.purge_expired(timedelta(days=30)) == 0, "not yet"
    await service.restore(OWNER, restored)
    assert await service.purge_expired(timedelta(0)) == 1
    await world.run_cleanups()
    assert sorted(world.catalog.images) == sorted([restored, kept])
    assert not [k for k in world.store.objects if trashed in k], "every object went"
    assert world.bus.event_types(trashed)[-1] == "deleted"


async def test_emptying_the_trash_and_a_permanent_delete(world: World) -> None:
    photos = [await ready(world, seed) for seed in (7, 8, 9)]
    service = world.delete()
    await service.delete(OWNER, photos[0])
    await service.delete(OWNER, photos[1])
    await service.delete(key_principal(TENANT), photos[2], permanent=True)
    assert photos[2] not in world.catalog.images, "permanent skips the trash"
    assert await service.empty(OWNER) == 2
    await world.run_cleanups()
    assert (world.catalog.images, world.store.objects) == ({}, {})
    with pytest.raises(NotFound):
        await service.delete(OWNER, photos[0], permanent=True)


async def test_a_trashed_photo_leaves_albums_and_share_links(world: World) -> None:
    photo = await ready(world, 10)
    albums = FakeAlbums(world.catalog)
    world.catalog.images[photo] = world.image(photo).model_copy(update={"albums": ["a1"]})
    later = utcnow() + timedelta(hours=1)
    for grant in (
        ShareGrant("s1", TENANT, "a1", None, False, later),
        ShareGrant("s2", TENANT, None, photo, False, later),
    ):
        link = Principal.link(grant)
        await world.delete().delete(OWNER, photo)
        assert (await queries(world).page(link, limit=10)).items == []
        with pytest.raises(NotFound):
            await queries(world).get(link, photo)
        with pytest.raises(NotFound):
            await queries(world).get(link, photo, trash=True)  # a link never sees the trash
        assert await albums.album_stats(TENANT, "a1") == (0, None)
        await world.delete().restore(OWNER, photo)


async def test_an_album_deleted_with_its_photos_sends_them_to_the_trash(world: World) -> None:
    inside = [await ready(world, seed) for seed in (11, 12, 13)]
    outside = await ready(world, 14)
    for image_id in inside:
        world.catalog.images[image_id] = world.image(image_id).model_copy(update={"albums": ["a1"]})
    assert await world.delete().trash_album(OWNER, "a1", batch=2) == 3
    trash = await queries(world).trash(OWNER, limit=10)
    assert sorted(r.id for r in trash.items) == sorted(inside)
    assert [r.id for r in (await queries(world).page(OWNER, limit=10)).items] == [outside]
