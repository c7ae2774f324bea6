"""The timeline and the search against the real catalog: pages stay exact while photos are
added and deleted between page reads; a render's metadata moves a photo and makes it found;
a catalog written before the timeline existed is given its fields at start."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.models import ImageRecord, ReadyImage, new_image_id
from pipeline.domain.search import ImageFilter, Order
from pipeline.runtime.settings import MongoSettings
from tests.conftest import unique

pytestmark = pytest.mark.integration
TENANT = "alice"


@pytest.fixture
async def catalog(mongo_server_uri: str) -> AsyncIterator[MongoCatalog]:
    settings = MongoSettings(uri=mongo_server_uri, database=unique("timeline").replace("-", "_"))
    async with MongoCatalog.connect(settings) as opened:
        await opened.ensure_indexes()
        yield opened


def record(rng: random.Random, **metadata: object) -> ImageRecord:
    """A photo taken some time in 2000-2025 (one in five: no capture date; one in four of
    the dated: in one busy second, a burst), by Canon or Nikon, some about the beach."""
    image_id = new_image_id()
    if "capture_time" not in metadata and rng.random() > 0.2:
        burst = rng.random() < 0.25
        when = (
            datetime(2020, 7, 4, 12)
            if burst
            else datetime(2000, 1, 1) + timedelta(seconds=rng.randrange(25 * 365 * 86400))
        )
        metadata["capture_time"] = when.isoformat()
    metadata.setdefault("camera_make", rng.choice(["Canon", "Nikon"]))
    if rng.random() < 0.3:
        metadata.setdefault("keywords", ["Beach", "holiday"])
    return ImageRecord(
        id=image_id,
        tenant=TENANT,
        status="ready",
        sha256=image_id,
        content_type="image/jpeg",
        bytes=100,
        width=4,
        height=3,
        original_key=f"originals/{TENANT}/{image_id}",
        filename=f"IMG_{rng.randrange(10_000):04d}.jpg",
        metadata=metadata,
    )


async def walk_while_changing(
    catalog: MongoCatalog, order: Order, where: ImageFilter, rng: random.Random
) -> None:
    """Page through ``where``'s images 7 at a time, adding 5 photos and deleting 3 (seen or
    not yet) before each page read: every photo there from start to end is listed exactly
    once, in order; the ones added or deleted meanwhile at most once."""
    key = "taken_key" if order == "taken" else "seq"
    initial = {r.id for r in await catalog.list_images(TENANT, limit=500, order=order, where=where)}
    deleted: set[str] = set()
    listed: list[ImageRecord] = []
    before: int | None = None
    while True:
        page = await catalog.list_images(TENANT, limit=7, order=order, where=where, before=before)
        listed += page
        if len(page) < 7:
            break
        before = getattr(page[-1], key)
        for _ in range(5):
            await catalog.insert_image(record(rng))
        everyone = await catalog.list_images(TENANT, limit=500, order=order)
        for victim in rng.sample([r for r in everyone if r.id not in deleted], 3):
            await catalog.delete_image(TENANT, victim.id)
            deleted.add(victim.id)
    ids = [r.id for r in listed]
    assert len(ids) == len(set(ids)), "a photo was listed twice"
    assert initial - deleted <= set(ids), "a photo there all along was skipped"
    keys = [getattr(r, key) for r in listed]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("order", ["taken", "upload"])
@pytest.mark.parametrize(
    "where",
    [ImageFilter(), ImageFilter(q="bea"), ImageFilter(camera="canon"),
     ImageFilter(taken_after=datetime(2010, 1, 1), taken_before=datetime(2021, 1, 1))],
    ids=["all", "search", "camera", "dates"],
)  # fmt: skip
async def test_pages_have_no_duplicate_and_no_gap_while_photos_come_and_go(
    catalog: MongoCatalog, order: Order, where: ImageFilter
) -> None:
    rng = random.Random(f"{order}{where}")
    await catalog.insert_images(TENANT, [record(rng) for _ in range(120)])
    await walk_while_changing(catalog, order, where, rng)


async def test_the_timeline_is_by_capture_time_and_undated_photos_by_upload_time(
    catalog: MongoCatalog,
) -> None:
    rng = random.Random(1)
    old = record(rng, capture_time="1999-12-31T23:59:59+09:00")
    undated = record(rng, capture_time=None)
    new = record(rng, capture_time="2024-01-01T00:00:00")
    wrong_clock = record(rng, capture_time="2150-06-01T00:00:00")
    for image in (new, old, undated, wrong_clock):
        await catalog.insert_image(image)
    listed = await catalog.list_images(TENANT, limit=10, order="taken")
    # Uploaded today, the undated photo is the latest but for a camera set a century ahead.
    assert [r.id for r in listed] == [wrong_clock.id, undated.id, new.id, old.id]
    assert [r.taken[1] for r in listed] == ["capture", "upload", "capture", "capture"]
    assert listed[-1].taken[0] == datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)


async def test_a_render_moves_the_photo_and_makes_its_words_found(catalog: MongoCatalog) -> None:
    rng = random.Random(2)
    image = record(rng, capture_time=None, camera_make=None)
    await catalog.insert_image(image)
    await catalog.images.update_one({"_id": image.id}, {"$set": {"status": "processing",
                                                                 "lease_owner": "w"}})  # fmt: skip
    metadata = {"capture_time": "2003-03-03T03:03:03", "title": "Grandma's garden",
                "camera_make": "Fujifilm"}  # fmt: skip
    ready = ReadyImage(renditions={}, width=4, height=3, frames=1, metadata=metadata, thumbhash="")
    assert await catalog.mark_ready(TENANT, image.id, ready, owner="w")
    found = await catalog.list_images(TENANT, limit=5, where=ImageFilter(q="garden"))
    assert [r.id for r in found] == [image.id]
    fuji = ImageFilter(camera="fuji", taken_before=datetime(2004, 1, 1))
    assert [r.id for r in await catalog.list_images(TENANT, limit=5, where=fuji)] == [image.id]


async def test_images_written_before_the_timeline_are_given_their_fields_at_start(
    catalog: MongoCatalog,
) -> None:
    rng = random.Random(3)
    image = record(rng, capture_time="2011-11-11T11:11:11", keywords=["autumn"])
    await catalog.insert_image(image)
    await catalog.images.update_one({"_id": image.id}, {"$unset": {"taken_key": 1, "terms": 1}})
    await catalog.images.database["migrations"].delete_one({"_id": "search_fields"})
    assert await catalog.list_images(TENANT, limit=5, order="taken") == []
    await catalog.ensure_indexes()
    listed = await catalog.list_images(TENANT, limit=5, order="taken", where=ImageFilter(q="aut"))
    assert [r.id for r in listed] == [image.id]
