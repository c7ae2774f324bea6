"""The catalog against a MongoDB-wire server: guarded transitions, tenant scoping, paging, keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.errors import DuplicateImage
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, ReadyImage, Rendition, new_image_id
from pipeline.runtime.settings import MongoSettings
from tests.conftest import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def catalog(mongo_server_uri: str) -> AsyncIterator[MongoCatalog]:
    settings = MongoSettings(uri=mongo_server_uri, database=unique("catalog").replace("-", "_"))
    async with MongoCatalog.connect(settings) as opened:
        await opened.ensure_indexes()
        yield opened


def record(tenant: str = "alice", sha: str | None = None) -> ImageRecord:
    image_id = new_image_id()
    return ImageRecord(
        id=image_id,
        tenant=tenant,
        status="queued",
        sha256=sha or image_id,
        content_type="image/jpeg",
        bytes=10,
        width=4,
        height=3,
        original_key=f"originals/{tenant}/{image_id}",
    )


LEASE = timedelta(minutes=5)


async def ready(
    catalog: MongoCatalog, image: ImageRecord, owner: str = "w/1"
) -> ImageRecord | None:
    rendition = Rendition(
        name="thumb", key="k", spec_hash="h", width=1, height=1, content_type="image/webp", bytes=1
    )
    done = ReadyImage(
        renditions={"thumb": rendition}, width=4, height=3, frames=1, metadata={}, thumbhash="x"
    )
    return await catalog.mark_ready(image.tenant, image.id, done, owner=owner)


async def expire_lease(catalog: MongoCatalog, image: ImageRecord) -> None:
    """What time does to the lease of a worker that died."""
    gone = utcnow() - timedelta(hours=1)
    await catalog.images.update_one({"_id": image.id}, {"$set": {"lease_expires_at": gone}})


async def test_status_moves_only_forward(catalog: MongoCatalog) -> None:
    image = record()
    await catalog.insert_image(image)
    assert await ready(catalog, image) is None, "queued cannot jump to ready"
    claimed = await catalog.claim(image.tenant, image.id, owner="w/1", lease=LEASE)
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.lease_owner) == ("processing", 1, "w/1")
    done = await ready(catalog, image)
    assert done is not None
    assert (done.status, done.lease_owner, done.lease_expires_at) == ("ready", None, None)
    assert done.ready_at is not None
    assert await catalog.claim(image.tenant, image.id, owner="w/2", lease=LEASE) is None, "final"
    assert await catalog.mark_failed(image.tenant, image.id, "late failure") is None


async def test_a_live_lease_is_refused_and_an_expired_one_taken_over_as_a_crash(
    catalog: MongoCatalog,
) -> None:
    image = record()
    await catalog.insert_image(image)
    assert await catalog.claim(image.tenant, image.id, owner="w/1", lease=LEASE) is not None
    assert await catalog.claim(image.tenant, image.id, owner="w/2", lease=LEASE) is None
    assert await catalog.renew(image.tenant, image.id, owner="w/1", lease=LEASE)
    assert not await catalog.renew(image.tenant, image.id, owner="w/2", lease=LEASE)

    await expire_lease(catalog, image)  # w/1 died mid-render
    taken = await catalog.claim(image.tenant, image.id, owner="w/2", lease=LEASE)
    assert taken is not None
    assert (taken.lease_owner, taken.attempts, taken.crashes) == ("w/2", 2, 1)
    assert await ready(catalog, image, owner="w/1") is None, "the dead holder cannot finish it"
    assert not await catalog.renew(image.tenant, image.id, owner="w/1", lease=LEASE)

    released = await catalog.release(image.tenant, image.id, owner="w/2", error="storage: away")
    assert released is not None
    assert (released.status, released.lease_owner, released.last_error) == (
        "processing",
        None,
        "storage: away",
    )
    again = await catalog.claim(image.tenant, image.id, owner="w/3", lease=LEASE)
    assert again is not None
    assert again.crashes == 1, "a released lease is no crash"


async def test_a_round_requeues_and_a_redrive_resets_every_counter(catalog: MongoCatalog) -> None:
    image = record()
    await catalog.insert_image(image)
    await catalog.claim(image.tenant, image.id, owner="w/1", lease=LEASE)
    assert await catalog.requeue_round(image.tenant, image.id, owner="w/2", error="e") is None
    queued = await catalog.requeue_round(image.tenant, image.id, owner="w/1", error="e")
    assert queued is not None
    assert (queued.status, queued.rounds, queued.lease_owner) == ("queued", 1, None)
    await catalog.claim(image.tenant, image.id, owner="w/3", lease=LEASE)
    failed = await catalog.mark_failed(image.tenant, image.id, "gave up", owner="w/3")
    assert failed is not None
    assert (failed.status, failed.lease_owner) == ("failed", None)
    reset = await catalog.requeue(image.tenant, image.id)
    assert reset is not None
    assert (reset.status, reset.attempts, reset.rounds, reset.crashes, reset.failure) == (
        "queued",
        0,
        0,
        0,
        None,
    )


async def test_same_content_for_the_same_tenant_is_one_image(catalog: MongoCatalog) -> None:
    first = record(sha="abc")
    await catalog.insert_image(first)
    with pytest.raises(DuplicateImage) as caught:
        await catalog.insert_image(record(sha="abc"))
    assert caught.value.existing.id == first.id
    await catalog.insert_image(record(tenant="bob", sha="abc"))  # another tenant may have it too


async def test_every_query_is_scoped_to_the_tenant(catalog: MongoCatalog) -> None:
    image = record("alice")
    await catalog.insert_image(image)
    assert await catalog.get_image("bob", image.id) is None
    assert await catalog.list_images("bob", limit=10) == []
    assert await catalog.claim("bob", image.id, owner="w/1", lease=LEASE) is None
    assert await catalog.delete_image("bob", image.id) is None
    assert await catalog.get_image("alice", image.id) is not None


async def test_listing_pages_newest_first(catalog: MongoCatalog) -> None:
    ids = []
    for _ in range(5):
        image = record()
        await catalog.insert_image(image)
        ids.append(image.id)
    first = await catalog.list_images("alice", limit=2)
    second = await catalog.list_images("alice", limit=2, before=first[-1].seq)
    third = await catalog.list_images("alice", limit=2, before=second[-1].seq)
    assert [r.id for r in first + second + third] == list(reversed(ids))


async def test_stale_queued_images_and_expired_leases_are_found_for_the_sweeper(
    catalog: MongoCatalog,
) -> None:
    an_hour_ago = utcnow() - timedelta(hours=1)
    stale = record().model_copy(update={"updated_at": an_hour_ago})
    claimed = record().model_copy(update={"updated_at": an_hour_ago})
    abandoned = record().model_copy(update={"updated_at": an_hour_ago})
    fresh = record()
    for image in (stale, claimed, abandoned, fresh):
        await catalog.insert_image(image)
    await catalog.claim(claimed.tenant, claimed.id, owner="alive", lease=LEASE)
    await catalog.claim(abandoned.tenant, abandoned.id, owner="dead", lease=LEASE)
    await expire_lease(catalog, abandoned)
    found = await catalog.stale_unfinished(timedelta(minutes=5), 500)
    assert sorted(r.id for r in found) == sorted([stale.id, abandoned.id])
    await catalog.touch(stale.tenant, stale.id)
    await catalog.touch(abandoned.tenant, abandoned.id)
    assert await catalog.stale_unfinished(timedelta(minutes=5), 500) == []
    still_dead = await catalog.get_image(abandoned.tenant, abandoned.id)
    assert still_dead is not None
    assert still_dead.lease_owner == "dead", "the next claim still counts the crash"


async def test_api_keys_are_stored_hashed(catalog: MongoCatalog) -> None:
    key = await catalog.create_api_key("alice")
    assert await catalog.tenant_for_key(key) == "alice"
    assert await catalog.tenant_for_key(key + "x") is None
    stored = await catalog.api_keys.find_one({})
    assert stored is not None
    assert key not in str(stored)
