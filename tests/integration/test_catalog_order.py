"""The listing's order and cursor, and the migration of a catalog an earlier version wrote.

Newest first means newest completed: an image takes its tenant's next listing number when
its record is written, so an upload that started early but completed late is listed on
top, and a client paging down can never have it land behind its cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.runtime.settings import MongoSettings
from tests.conftest import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def catalog(mongo_server_uri: str) -> AsyncIterator[MongoCatalog]:
    settings = MongoSettings(uri=mongo_server_uri, database=unique("order").replace("-", "_"))
    async with MongoCatalog.connect(settings) as opened:
        await opened.ensure_indexes()
        yield opened


def record(tenant: str = "alice", albums: list[str] | None = None) -> ImageRecord:
    image_id = new_image_id()
    return ImageRecord(
        id=image_id,
        tenant=tenant,
        status="ready",
        sha256=image_id,
        content_type="image/jpeg",
        bytes=100,
        width=4,
        height=3,
        original_key=f"originals/{tenant}/{image_id}",
        albums=albums or [],
    )


async def test_an_upload_completing_between_page_reads_is_never_behind_the_cursor(
    catalog: MongoCatalog,
) -> None:
    slow = record()  # its upload starts first: the older id
    done = [record() for _ in range(4)]
    for image in done:
        await catalog.insert_image(image)
    first = await catalog.list_images("alice", limit=2)
    assert [r.id for r in first] == [done[3].id, done[2].id]
    await catalog.insert_image(slow)  # completes while the client reads its pages
    second = await catalog.list_images("alice", limit=2, before=first[-1].seq)
    third = await catalog.list_images("alice", limit=2, before=second[-1].seq)
    # The walk down still sees every image that was there when it started, once...
    assert [r.id for r in first + second + third] == [d.id for d in reversed(done)]
    # ...and the late completion is above its first page (where the live events and a
    # fresh listing show it), never below the cursor it had passed.
    assert slow.id < done[0].id
    assert (await catalog.list_images("alice", limit=1))[0].id == slow.id
    stored = await catalog.get_image("alice", slow.id)
    assert stored is not None
    assert stored.seq > first[0].seq


async def test_an_old_catalog_is_numbered_and_counted_on_first_start(catalog: MongoCatalog) -> None:
    """Images written before ``seq`` existed: numbered in creation order on start, below
    anything that completes meanwhile, and counted in usage and album counters."""
    await catalog.albums.insert_album(AlbumRecord(id="A1", tenant="alice", name="old"))
    old = [record(albums=["A1"] if n % 2 else []) for n in range(5)] + [record("bob")]
    for image in old:  # as an earlier version wrote them: no seq, no counters
        await catalog.images.insert_one(
            {k: v for k, v in image.to_document().items() if k != "seq"}
        )
    await catalog.images.database["migrations"].delete_many({})

    await catalog.ensure_indexes()

    listed = await catalog.list_images("alice", limit=10)
    assert [r.id for r in listed] == [r.id for r in reversed(old[:5])]
    assert [r.seq for r in listed] == [5, 4, 3, 2, 1]
    assert await catalog.usage.tenant_usage("alice") == (5, 500)
    assert await catalog.usage.tenant_usage("bob") == (1, 100)
    assert await catalog.albums.album_stats("alice", "A1") == (2, old[3].id)
    newer = record()
    await catalog.insert_image(newer)
    assert (await catalog.list_images("alice", limit=1))[0].id == newer.id
    await catalog.ensure_indexes()  # a second start changes nothing
    assert await catalog.usage.tenant_usage("alice") == (6, 600)


async def test_a_new_tenants_first_uploads_racing_each_get_a_number(catalog: MongoCatalog) -> None:
    # Its counters document does not exist yet: every racer must still get a number.
    images = [record("carol") for _ in range(8)]
    await asyncio.gather(*(catalog.insert_image(image) for image in images))
    listed = await catalog.list_images("carol", limit=10)
    assert sorted(r.seq for r in listed) == list(range(1, 9))
    assert await catalog.usage.tenant_usage("carol") == (8, 800)
