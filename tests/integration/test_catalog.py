"""The catalog against a MongoDB-wire server: guarded transitions, tenant scoping, paging, keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from pipeline.adapters.catalog import Catalog
from pipeline.domain.errors import DuplicateImage
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, Rendition, new_image_id
from pipeline.runtime.settings import MongoSettings
from tests.conftest import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def catalog(mongo_server_uri: str) -> AsyncIterator[Catalog]:
    settings = MongoSettings(uri=mongo_server_uri, database=unique("catalog").replace("-", "_"))
    async with Catalog.connect(settings) as opened:
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


async def ready(catalog: Catalog, image: ImageRecord) -> ImageRecord | None:
    rendition = Rendition(
        name="thumb", key="k", spec_hash="h", width=1, height=1, content_type="image/webp", bytes=1
    )
    return await catalog.mark_ready(
        image.tenant,
        image.id,
        renditions={"thumb": rendition},
        width=4,
        height=3,
        frames=1,
        metadata={},
        thumbhash="x",
    )


async def test_status_moves_only_forward(catalog: Catalog) -> None:
    image = record()
    await catalog.insert_image(image)
    assert await ready(catalog, image) is None, "queued cannot jump to ready"
    claimed = await catalog.claim(image.tenant, image.id)
    assert claimed is not None
    assert claimed.status == "processing"
    assert claimed.attempts == 1
    again = await catalog.claim(image.tenant, image.id)  # a redelivery after a worker died
    assert again is not None
    assert again.attempts == 2
    done = await ready(catalog, image)
    assert done is not None
    assert done.status == "ready"
    assert done.ready_at is not None
    assert await catalog.claim(image.tenant, image.id) is None, "ready is final"
    assert await catalog.mark_failed(image.tenant, image.id, "late failure") is None


async def test_same_content_for_the_same_tenant_is_one_image(catalog: Catalog) -> None:
    first = record(sha="abc")
    await catalog.insert_image(first)
    with pytest.raises(DuplicateImage) as caught:
        await catalog.insert_image(record(sha="abc"))
    assert caught.value.existing.id == first.id
    await catalog.insert_image(record(tenant="bob", sha="abc"))  # another tenant may have it too


async def test_every_query_is_scoped_to_the_tenant(catalog: Catalog) -> None:
    image = record("alice")
    await catalog.insert_image(image)
    assert await catalog.get_image("bob", image.id) is None
    assert await catalog.list_images("bob", limit=10) == []
    assert await catalog.claim("bob", image.id) is None
    assert await catalog.delete_image("bob", image.id) is None
    assert await catalog.get_image("alice", image.id) is not None


async def test_listing_pages_newest_first(catalog: Catalog) -> None:
    ids = []
    for _ in range(5):
        image = record()
        await catalog.insert_image(image)
        ids.append(image.id)
    first = await catalog.list_images("alice", limit=2)
    second = await catalog.list_images("alice", limit=2, before=first[-1].id)
    third = await catalog.list_images("alice", limit=2, before=second[-1].id)
    assert [r.id for r in first + second + third] == list(reversed(ids))


async def test_stale_queued_images_are_found_for_the_sweeper(catalog: Catalog) -> None:
    an_hour_ago = utcnow() - timedelta(hours=1)
    stale = record().model_copy(update={"updated_at": an_hour_ago})
    claimed = record().model_copy(update={"updated_at": an_hour_ago})
    fresh = record()
    for image in (stale, claimed, fresh):
        await catalog.insert_image(image)
    await catalog.claim(claimed.tenant, claimed.id)
    found = await catalog.stale_queued(timedelta(minutes=5))
    assert [r.id for r in found] == [stale.id]
    await catalog.touch(stale.tenant, stale.id)
    assert await catalog.stale_queued(timedelta(minutes=5)) == []


async def test_api_keys_are_stored_hashed(catalog: Catalog) -> None:
    key = await catalog.create_api_key("alice")
    assert await catalog.tenant_for_key(key) == "alice"
    assert await catalog.tenant_for_key(key + "x") is None
    stored = await catalog.api_keys.find_one({})
    assert stored is not None
    assert key not in str(stored)
