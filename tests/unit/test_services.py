"""The image lifecycle through the services, on in-memory fakes of the backends.

What a user would notice: an upload becomes one image, a duplicate is the same image, a
refused upload leaves nothing behind, a render makes the image ready or failed (and only
retries what may succeed later), a delete wins over a render that races it, backfill
re-renders only what is out of date. The same flows run against real servers in
``tests/integration`` and ``tests/e2e``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.domain.errors import (
    EmptyUpload,
    ImageTooLarge,
    InputError,
    StorageError,
    TooManyScans,
    UndecodableImage,
    UnsupportedMediaType,
    UploadTooLarge,
)
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord
from pipeline.domain.outcomes import Ack, Delivery, Outcome, Retry, Terminal
from pipeline.imaging.spec import DEFAULT_SPEC, RenditionSpec
from pipeline.imaging.video import VideoSpec
from pipeline.runtime.settings import (
    JobsSettings,
    LimitsSettings,
    ReconcileSettings,
    SweeperSettings,
)
from pipeline.services.backfill import plan_backfill
from pipeline.services.delete import CleanupService, DeleteService
from pipeline.services.ingest import BodyOpener, IngestService
from pipeline.services.outbox import republish_stuck
from pipeline.services.render import RenderPolicy, RenderService
from pipeline.services.renderer import ThreadRenderer
from pipeline.services.spool import Spool
from tests import videos
from tests.fakes import (
    FakeBus,
    FakeCatalog,
    FakeImageScan,
    FakeObjectStore,
    FakeRenderer,
    key_principal,
)
from tests.images import jpeg_bomb_header_bytes, jpeg_bytes, png_bytes
from tests.unit.scanning import case

pytestmark = pytest.mark.unit
TENANT = "acme"
POLICY = RenderPolicy(
    max_deliver=4, lease=timedelta(seconds=30), max_crashes=2, max_rounds=3, worker="test"
)


def body(data: bytes, chunk: int = 64 * 1024, filename: str | None = "photo.jpg") -> BodyOpener:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), chunk):
            yield data[start : start + chunk]

    async def open_body() -> tuple[AsyncIterator[bytes], str | None]:
        return chunks(), filename

    return open_body


@dataclass
class World:
    catalog: FakeCatalog
    store: FakeObjectStore
    bus: FakeBus
    renderer: FakeRenderer
    limits: LimitsSettings

    def ingest(self) -> IngestService:
        return IngestService(self.catalog, self.store, self.bus, self.limits)

    policy: RenderPolicy = POLICY

    def render(self) -> RenderService:
        return RenderService(self.catalog, self.store, self.bus, self.renderer, policy=self.policy)

    def delete(self) -> DeleteService:
        return DeleteService(self.catalog, self.store, self.bus)

    async def run_cleanups(self) -> None:
        """What the worker's cleanup lane does with the jobs deletes published."""
        while self.bus.cleanups:
            await CleanupService(self.store).handle(
                Delivery(job=self.bus.cleanups.pop(0), attempt=1, subject="test")
            )

    async def upload(self, data: bytes) -> ImageRecord:
        return (await self.ingest().ingest(TENANT, body(data))).record

    async def run_job(
        self, record: ImageRecord, reason: str = "upload", attempt: int = 1
    ) -> Outcome:
        job = record.render_job("backfill" if reason == "backfill" else "upload")
        return await self.render().handle(Delivery(job=job, attempt=attempt, subject="test"))

    def image(self, image_id: str) -> ImageRecord:
        return self.catalog.images[image_id]


@pytest.fixture
def world() -> World:
    return World(
        FakeCatalog(), FakeObjectStore(), FakeBus(), FakeRenderer(DEFAULT_SPEC), LimitsSettings()
    )


# --- ingest --------------------------------------------------------------------------------


async def test_an_upload_is_stored_recorded_and_queued(world: World) -> None:
    data = jpeg_bytes(640, 480)
    record = await world.upload(data)
    assert (record.status, record.width, record.height, record.bytes) == (
        "queued",
        640,
        480,
        len(data),
    )
    assert (record.content_type, record.filename) == ("image/jpeg", "photo.jpg")
    assert world.store.objects[record.original_key] == (data, "image/jpeg")
    assert [j.image_id for j in world.bus.jobs] == [record.id]
    assert world.bus.event_types(record.id) == ["uploaded"]


async def test_a_duplicate_upload_is_the_same_image_and_keeps_one_original(world: World) -> None:
    data = png_bytes(300, 200)
    first = await world.ingest().ingest(TENANT, body(data))
    second = await world.ingest().ingest(TENANT, body(data, chunk=1000, filename="again.png"))
    assert (first.duplicate, second.duplicate) == (False, True)
    assert second.record.id == first.record.id
    assert list(world.store.objects) == [first.record.original_key]
    assert len(world.bus.jobs) == 1


async def test_another_tenant_uploading_the_same_bytes_gets_its_own_image(world: World) -> None:
    data = png_bytes(64, 64)
    mine = await world.upload(data)
    theirs = await world.ingest().ingest("other", body(data))
    assert not theirs.duplicate
    assert theirs.record.id != mine.id


@pytest.mark.parametrize(
    ("data", "limits", "error"),
    [
        (b"", LimitsSettings(), EmptyUpload),
        (b"%PDF-1.7\n" + b"x" * 5000, LimitsSettings(), UnsupportedMediaType),
        (jpeg_bomb_header_bytes(), LimitsSettings(), ImageTooLarge),
        (jpeg_bytes(800, 600), LimitsSettings(max_upload_bytes=20_000), UploadTooLarge),
    ],
    ids=["empty", "not-an-image", "bomb", "over-the-byte-limit"],
)
async def test_gate_refusals_leave_nothing_behind(
    world: World, data: bytes, limits: LimitsSettings, error: type[InputError]
) -> None:
    world.limits = limits
    with pytest.raises(error):
        await world.upload(data)
    assert (world.store.objects, world.catalog.images, world.bus.jobs) == ({}, {}, [])


async def test_a_declared_length_over_the_limit_is_refused_before_reading(world: World) -> None:
    opened = False

    async def open_body() -> tuple[AsyncIterator[bytes], str | None]:
        nonlocal opened
        opened = True
        return await body(b"never read")()

    limit = world.limits.largest_upload_bytes  # the type is not known before the bytes
    with pytest.raises(UploadTooLarge):
        await world.ingest().ingest(TENANT, open_body, declared_bytes=limit + 10 * 2**20)
    assert not opened
    assert world.store.objects == {}


async def test_an_upload_whose_record_fails_leaves_no_original(world: World) -> None:
    async def catalog_down(record: ImageRecord) -> None:
        raise StorageError("catalog down")

    world.catalog.insert_image = catalog_down  # type: ignore[method-assign]
    with pytest.raises(StorageError):
        await world.upload(jpeg_bytes(64, 64))
    assert world.store.objects == {}


async def test_a_lost_publish_keeps_the_upload_and_the_outbox_sends_it(world: World) -> None:
    world.bus.down = True
    record = await world.upload(jpeg_bytes(64, 64))
    assert (record.status, world.bus.jobs) == ("queued", [])
    world.bus.down = False
    an_hour_ago = utcnow() - timedelta(hours=1)
    world.catalog.images[record.id] = record.model_copy(update={"updated_at": an_hour_ago})
    sweeper = SweeperSettings(stale_after_seconds=60)
    assert await republish_stuck(world.bus, world.catalog, sweeper) == 1
    assert [(j.image_id, j.reason) for j in world.bus.jobs] == [(record.id, "outbox")]
    assert await republish_stuck(world.bus, world.catalog, sweeper) == 0, "the clock restarts"


# --- render --------------------------------------------------------------------------------


async def test_a_render_stores_every_rendition_and_makes_the_image_ready(world: World) -> None:
    record = await world.upload(jpeg_bytes(640, 480))
    assert await world.run_job(record) == Ack()
    ready = world.image(record.id)
    assert ready.status == "ready"
    assert sorted(ready.renditions) == sorted(s.name for s in DEFAULT_SPEC)
    for rendition in ready.renditions.values():
        assert rendition.key in world.store.objects
        assert rendition.key.startswith(f"renditions/{TENANT}/{record.id}/")
    assert world.bus.event_types(record.id) == ["uploaded", "ready"]


async def test_the_renderer_gets_the_original_as_a_spool_file_removed_after(
    world: World,
) -> None:
    original = jpeg_bytes(640, 480)
    record = await world.upload(original)
    assert await world.run_job(record) == Ack()
    assert world.renderer.contents == [original]  # streamed from the store into the file
    assert not world.renderer.originals[0].exists()


async def test_a_video_original_renders_its_poster_and_its_preview_streamed_to_the_store(
    world: World, tmp_path: Path
) -> None:
    record = await world.upload(jpeg_bytes(64, 48))
    # What the ingest gate will admit once videos are accepted: a video original (here a
    # portrait phone clip, stored 96x64 and turned a quarter).
    clip = videos.rotate(videos.clip("mov", "libx264", "aac", width=96, height=64), 90)
    world.store.objects[record.original_key] = (clip, "video/quicktime")
    renderer = ThreadRenderer(
        DEFAULT_SPEC,
        LimitsSettings(),
        store_gps=False,
        video=VideoSpec(max_width=96, max_height=64),
    )
    spool = Spool(tmp_path, 10**8)
    service = RenderService(
        world.catalog, world.store, world.bus, renderer, policy=world.policy, spool=spool
    )
    job = record.render_job("upload")
    assert await service.handle(Delivery(job=job, attempt=1, subject="test")) == Ack()
    ready = world.image(record.id)
    assert sorted(ready.renditions) == ["large", "preview", "thumb", "video"]
    assert (ready.width, ready.height) == (64, 96)  # upright
    assert ready.metadata["video_codec"] == "h264"
    assert ready.metadata["rotation"] == 90
    preview = ready.renditions["video"]
    data = world.store.objects[preview.key][0]
    assert preview.content_type == "video/mp4"
    assert preview.sha256 == hashlib.sha256(data).hexdigest()
    assert (preview.width, preview.height, preview.bytes) == (64, 96, len(data))
    assert data.index(b"moov") < data.index(b"mdat")
    assert os.listdir(tmp_path) == []  # the original and the preview file are gone


async def test_the_thread_renderer_renders_a_real_image(
    world: World, on_disk: Callable[[bytes], Path]
) -> None:
    spec = [RenditionSpec(name="thumb", width=64, height=64, crop="attention", format="webp")]
    renderer = ThreadRenderer(spec, LimitsSettings(), store_gps=False)
    result = await renderer.render(on_disk(jpeg_bytes(320, 240)))
    assert (result.width, result.height) == (320, 240)
    assert [(r.name, r.width, r.height) for r in result.renditions] == [("thumb", 64, 64)]


async def test_a_storage_failure_is_retried_and_the_next_delivery_finishes(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 64))
    world.store.fail_with = StorageError("storage away")
    outcome = await world.run_job(record)
    assert isinstance(outcome, Retry)
    assert outcome.reason.startswith("storage_unavailable")
    assert world.image(record.id).status == "processing"
    world.store.fail_with = None
    assert await world.run_job(record, attempt=2) == Ack()
    assert world.image(record.id).status == "ready"


async def test_undecodable_input_is_terminal_and_fails_the_image(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 64))
    world.renderer.fail_with = UndecodableImage("bad", public_message="corrupt data")
    outcome = await world.run_job(record)
    assert isinstance(outcome, Terminal)
    failed = world.image(record.id)
    assert (failed.status, failed.failure) == ("failed", "undecodable: corrupt data")
    assert world.bus.event_types(record.id) == ["uploaded", "failed"]


async def test_a_missing_original_is_terminal(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 64))
    del world.store.objects[record.original_key]
    assert await world.run_job(record) == Terminal("original object is missing")
    assert world.image(record.id).status == "failed"


async def test_a_redelivered_job_of_a_ready_image_does_nothing(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 64))
    await world.run_job(record)
    assert await world.run_job(record) == Ack()
    assert world.renderer.calls == 1


async def test_a_delete_racing_a_render_leaves_nothing_behind(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 64))

    async def delete_meanwhile() -> None:
        await world.delete().delete(key_principal(TENANT), record.id, permanent=True)

    world.renderer.during = delete_meanwhile
    assert await world.run_job(record) == Ack()
    await world.run_cleanups()
    assert world.catalog.images == {}
    assert world.store.objects == {}, "renditions stored after the delete are removed"
    assert world.bus.event_types(record.id) == ["uploaded", "deleted"]


async def test_delete_removes_the_document_and_every_object(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 64))
    await world.run_job(record)
    await world.delete().delete(key_principal(TENANT), record.id, permanent=True)
    await world.run_cleanups()
    assert (world.catalog.images, world.store.objects) == ({}, {})


async def test_another_tenant_cannot_delete_an_image(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 64))
    with pytest.raises(LookupError):
        await world.delete().delete(key_principal("other"), record.id, permanent=True)
    assert record.id in world.catalog.images


# --- backfill and redrive ------------------------------------------------------------------


async def test_backfill_queues_only_images_whose_renditions_are_out_of_date(world: World) -> None:
    old_spec = [RenditionSpec(name="thumb", width=128, height=128, format="webp")]
    outdated = await world.upload(jpeg_bytes(64, 64, seed=1))
    current = await world.upload(jpeg_bytes(64, 64, seed=2))
    world.renderer.spec = old_spec
    await world.run_job(outdated)
    world.renderer.spec = DEFAULT_SPEC
    await world.run_job(current)
    world.bus.jobs.clear()

    scan, walk = FakeImageScan(world.catalog), ReconcileSettings(batch_pause_seconds=0)
    assert await plan_backfill(world.bus, scan, DEFAULT_SPEC, walk, dry_run=True) == 1
    assert world.bus.jobs == []
    assert await plan_backfill(world.bus, scan, DEFAULT_SPEC, walk) == 1
    assert [(j.image_id, j.reason) for j in world.bus.jobs] == [(outdated.id, "backfill")]


async def test_backfill_walks_the_library_in_batches_of_the_setting(world: World) -> None:
    records = [await world.upload(jpeg_bytes(16, 16, seed=seed)) for seed in range(5)]
    for record in records:
        await world.run_job(record)
    world.renderer.spec = [RenditionSpec(name="thumb", width=8, height=8, format="webp")]
    seen: list[tuple[int, int]] = []
    walk = ReconcileSettings(batch_size=2, batch_pause_seconds=0)
    queued = await plan_backfill(
        world.bus,
        FakeImageScan(world.catalog),
        world.renderer.spec,
        walk,
        dry_run=True,
        progress=lambda walked, total: seen.append((walked, total)),
    )
    assert queued == 5
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]  # one step per batch of 2


async def test_a_backfill_job_rerenders_an_outdated_image_and_skips_a_current_one(
    world: World,
) -> None:
    record = await world.upload(jpeg_bytes(64, 64))
    world.renderer.spec = [RenditionSpec(name="thumb", width=128, height=128, format="webp")]
    await world.run_job(record)
    old_keys = set(world.store.objects) - {record.original_key}
    world.renderer.spec = DEFAULT_SPEC

    assert await world.run_job(record, reason="backfill") == Ack()
    rerendered = world.image(record.id)
    assert rerendered.status == "ready"
    assert sorted(rerendered.renditions) == sorted(s.name for s in DEFAULT_SPEC)
    assert not old_keys & set(world.store.objects), "the old spec's renditions are dropped"
    calls = world.renderer.calls
    assert await world.run_job(record, reason="backfill") == Ack()
    assert world.renderer.calls == calls, "a current image is not rendered again"


# --- the ingest gate, wired: one pass, a refusal keeps nothing -----------------------------


async def test_a_megabyte_of_metadata_before_the_header_is_accepted(world: World) -> None:
    record = await world.upload(case("c06_extended_xmp.jpg"))
    assert (record.status, record.width, record.height) == ("queued", 400, 300)


async def test_a_refusal_known_only_after_streaming_deletes_what_was_stored(
    world: World,
) -> None:
    # The scan count of a progressive JPEG is known at its end, after the body was stored.
    stored_meanwhile: list[int] = []
    put_stream = world.store.put_stream

    async def watching_put(key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        size = await put_stream(key, chunks, content_type=content_type)
        stored_meanwhile.append(len(world.store.objects))
        return size

    world.store.put_stream = watching_put  # type: ignore[method-assign]
    with pytest.raises(TooManyScans) as caught:
        await world.upload(case("c14_scan_bomb.jpg"))
    assert "scans" in caught.value.public_message
    assert stored_meanwhile == [1], "the body did reach the store"
    assert (world.store.objects, world.catalog.images, world.bus.jobs) == ({}, {}, [])


async def test_a_finished_job_publishes_its_tenants_next_queued_photos(world: World) -> None:
    """Fairness: a tenant's import flows at the pace of its own finished jobs (the refill)."""
    images = [await world.upload(jpeg_bytes(64 + n, 48)) for n in range(5)]
    world.bus.jobs.clear()  # as if the render stream had refused them: they wait in the catalog
    world.policy = replace(POLICY, share_of=lambda tenant: 2)
    assert await world.run_job(images[0]) == Ack()
    assert [job.image_id for job in world.bus.jobs] == sorted(r.id for r in images[1:])[:2]
    assert all(job.reason == "upload" for job in world.bus.jobs), "named by the image id"


async def test_a_backfill_job_publishes_nothing_more(world: World) -> None:
    record = await world.upload(jpeg_bytes(64, 48))
    await world.run_job(record)
    await world.upload(jpeg_bytes(80, 48))
    world.bus.jobs.clear()
    world.policy = replace(POLICY, share_of=lambda tenant: 2)
    await world.run_job(world.image(record.id), reason="backfill")
    assert world.bus.jobs == [], "re-renders do not pull uploads along"


async def test_a_videos_render_deadline_grows_with_its_duration_and_it_takes_the_video_lane(
    world: World,
) -> None:
    jobs = JobsSettings(video_timeout_base_seconds=10, video_timeout_per_video_second=3)
    world.policy = dataclasses.replace(POLICY, video_timeout=jobs.video_timeout_seconds)
    video = await world.upload(videos.clip("mp4", seconds=4))
    photo = await world.upload(jpeg_bytes(64, 48))
    assert video.duration_seconds == pytest.approx(4.0, abs=0.2)
    assert (video.render_job().media, photo.render_job().media) == ("video", "photo")
    assert await world.run_job(video) == Ack()
    assert await world.run_job(photo) == Ack()
    # The video: 10 s + 3 s per second of it; the photo: the limits' render_timeout_seconds.
    assert world.renderer.timeouts == [pytest.approx(10 + 3 * video.duration_seconds), None]
