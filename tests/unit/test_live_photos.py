"""Apple live photos on in-memory fakes: the still and the video, ready in either order,
become one listed photo playing the video; deleting either side leaves nothing dangling."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.domain.access import Principal
from pipeline.domain.models import ImageRecord, Rendition, new_image_id
from pipeline.services.backfill import outdated, stale_video
from pipeline.services.delete import DeleteService
from pipeline.services.live import pair_live_photo
from tests.fakes import FakeBus, FakeCatalog, FakeObjectStore

pytestmark = pytest.mark.unit
TENANT = "alice"
ID = "6C3C2B1A-0F9E-4D8C-B7A6-958473625140"
OWNER = Principal.key(TENANT, "key-hash")


def _rendition(image_id: str, name: str, content_type: str) -> Rendition:
    key = f"renditions/{TENANT}/{image_id}/{name}-abc.bin"
    return Rendition(
        name=name, key=key, spec_hash="abc", width=4, height=3, content_type=content_type, bytes=9
    )


def _record(content_type: str, metadata: dict[str, Any], status: str = "ready") -> ImageRecord:
    image_id = new_image_id()
    names = ["thumb", "video"] if content_type.startswith("video/") else ["thumb"]
    return ImageRecord.model_validate(
        {
            "_id": image_id,
            "tenant": TENANT,
            "status": status,
            "sha256": image_id,
            "content_type": content_type,
            "bytes": 9,
            "width": 4,
            "height": 3,
            "original_key": f"originals/{TENANT}/{image_id}",
            "metadata": metadata,
            "renditions": {n: _rendition(image_id, n, "video/mp4") for n in names},
        }
    )


async def _pair(catalog: FakeCatalog, *records: ImageRecord) -> list[ImageRecord | None]:
    linked = []
    for record in records:
        await catalog.insert_image(record)
        linked.append(await pair_live_photo(catalog, record))
    return linked


@pytest.mark.parametrize("video_first", [False, True])
async def test_the_second_half_to_be_ready_links_both(video_first: bool) -> None:
    catalog = FakeCatalog()
    photo = _record("image/heic", {"content_identifier": ID})
    video = _record("video/quicktime", {"content_identifier": ID, "duration_seconds": 2.5})
    order = [video, photo] if video_first else [photo, video]
    assert (await _pair(catalog, *order))[0] is None  # alone: nothing to link yet
    shown = catalog.images[photo.id]
    assert shown.media == "motion"
    assert shown.renditions["motion"] == video.renditions["video"]
    assert shown.metadata["motion"]["source"] == "apple"
    assert shown.metadata["motion"]["duration_seconds"] == 2.5
    assert [r.id for r in await catalog.list_images(TENANT, limit=10)] == [photo.id]
    assert (await pair_live_photo(catalog, catalog.images[photo.id])) is None  # done once


async def test_halves_of_different_live_photos_or_not_ready_stay_apart() -> None:
    catalog = FakeCatalog()
    photo = _record("image/jpeg", {"content_identifier": ID})
    other = _record("video/quicktime", {"content_identifier": "another"})
    waiting = _record("video/quicktime", {"content_identifier": ID}, status="processing")
    assert await _pair(catalog, photo, other, waiting) == [None, None, None]
    assert catalog.images[photo.id].media == "photo"
    assert len(await catalog.list_images(TENANT, limit=10)) == 3


async def test_a_google_motion_photo_keeps_its_own_motion() -> None:
    catalog = FakeCatalog()
    photo = _record("image/jpeg", {"content_identifier": ID, "motion": {"source": "google"}})
    photo = photo.model_copy(
        update={"renditions": {"motion": _rendition(photo.id, "motion", "video/mp4")}}
    )
    video = _record("video/quicktime", {"content_identifier": ID})
    assert await _pair(catalog, photo, video) == [None, None]
    assert catalog.images[photo.id].metadata["motion"] == {"source": "google"}


async def test_deleting_the_photo_deletes_its_video_and_deleting_the_video_unlinks() -> None:
    catalog, store, bus = FakeCatalog(), FakeObjectStore(), FakeBus()
    photo = _record("image/heic", {"content_identifier": ID})
    video = _record("video/quicktime", {"content_identifier": ID})
    await _pair(catalog, photo, video)
    await DeleteService(catalog, store, bus).delete(OWNER, photo.id, permanent=True)
    assert catalog.images == {}

    photo = _record("image/heic", {"content_identifier": ID})
    video = _record("video/quicktime", {"content_identifier": ID})
    await _pair(catalog, photo, video)
    await DeleteService(catalog, store, bus).delete(OWNER, video.id, permanent=True)
    left = catalog.images[photo.id]
    assert (left.media, "motion" in left.metadata) == ("photo", False)


def test_backfill_knows_a_video_rendition_of_another_video_spec() -> None:
    video = _record("video/quicktime", {})  # renditions thumb and video, spec hash "abc"
    assert stale_video(video, {"video": "new", "motion": "x"})
    assert not stale_video(video, {"video": "abc", "motion": "x"})
    assert outdated(video, {"thumb": "abc"}, {"video": "new"})
    assert not outdated(video, {"thumb": "abc"})  # no video spec given: not compared
    embedded = _record("image/jpeg", {"motion": {"source": "google"}})
    embedded = embedded.model_copy(
        update={"renditions": {"motion": _rendition(embedded.id, "motion", "video/mp4")}}
    )
    assert stale_video(embedded, {"video": "abc", "motion": "new"})
    # A live photo's motion is its MOV's preview: the MOV is the one re-rendered.
    live = embedded.model_copy(
        update={"metadata": {"motion": {"source": "apple", "video_id": video.id}}}
    )
    assert not stale_video(live, {"video": "new", "motion": "new"})
