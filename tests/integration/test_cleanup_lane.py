"""The cleanup lane against a real NATS server, and what reconcile reads from the real
catalog and stores: listings with last-modified times, every tenant's images, the guarded
``fail_lost``."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline.adapters.bus import JetStreamBus
from pipeline.adapters.catalog import MongoCatalog
from pipeline.adapters.consumer import LaneConsumer, SlotPool
from pipeline.adapters.storage import open_object_store
from pipeline.domain import names
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import StorageError
from pipeline.domain.messages import CleanupJob, utcnow
from pipeline.domain.models import TenantCounts, new_image_id
from pipeline.domain.outcomes import Ack, Delivery, Outcome
from pipeline.jobs.registry import BoundLane
from pipeline.runtime.settings import MongoSettings, NatsSettings, Settings, StorageSettings
from pipeline.services.reconcile import ReconcileService
from tests.conftest import SettingsFactory, unique
from tests.integration.test_catalog import record

pytestmark = pytest.mark.integration


@pytest.fixture
async def bus(make_settings: SettingsFactory) -> AsyncIterator[JetStreamBus]:
    nats: NatsSettings = make_settings().nats
    async with JetStreamBus.connect(nats) as connected:
        await connected.declare()
        yield connected


@pytest.fixture
async def catalog(mongo_server_uri: str) -> AsyncIterator[MongoCatalog]:
    settings = MongoSettings(uri=mongo_server_uri, database=unique("scan").replace("-", "_"))
    async with MongoCatalog.connect(settings) as opened:
        await opened.ensure_indexes()
        yield opened


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_cleanup_job_is_retried_until_the_store_answers(bus: JetStreamBus) -> None:
    """More failed attempts than max_deliver, then success: the job was never dropped."""
    attempts: list[int] = []
    healthy_from = bus.settings.max_deliver + 2

    async def handler(delivery: Delivery[CleanupJob]) -> Outcome:
        attempts.append(attempt := delivery.attempt)
        if attempt < healthy_from:
            raise StorageError("store away")
        return Ack()

    stop = asyncio.Event()
    (cleanup,) = [lane for lane in bus.lanes if lane.name == names.CLEANUP_CONSUMER]
    lane = LaneConsumer(bus, BoundLane(cleanup, handler), SlotPool(2), drain_timeout=3.0)
    task = asyncio.create_task(lane.run(stop))
    try:
        job = CleanupJob(image_id="img-1", tenant="t", keys=["originals/t/img-1"])
        await bus.publish_cleanup(job)
        await bus.publish_cleanup(job)  # a retried publish: the same Nats-Msg-Id, one job
        await until(lambda: healthy_from in attempts, timeout=60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert attempts == list(range(1, healthy_from + 1))
    info = await bus.js.consumer_info(names.JOBS_STREAM, names.CLEANUP_CONSUMER)
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    assert info.config.max_deliver == -1


async def test_scan_pages_through_every_tenant(catalog: MongoCatalog) -> None:
    made = [record("alice"), record("bob"), record("alice")]
    for image in made:
        await catalog.insert_image(image)
    seen, batches, position = [], 0, None
    while True:
        batch, position = await catalog.scan.scan_images(after=position, limit=1)
        seen += [r.id for r in batch]
        batches += 1
        if position is None:
            break
    # Tenants by name, each one's images in completion order, one image per batch.
    assert seen == [made[0].id, made[2].id, made[1].id]
    assert await catalog.scan.count_images() == 3
    assert batches >= 3


async def test_fail_lost_only_when_the_document_did_not_move_on(catalog: MongoCatalog) -> None:
    image = record("alice")
    await catalog.insert_image(image)
    stored = await catalog.get_image("alice", image.id)
    assert stored is not None
    before = stored.updated_at - timedelta(seconds=1)
    assert await catalog.scan.fail_lost("alice", image.id, "gone", unchanged_since=before) is None
    failed = await catalog.scan.fail_lost(
        "alice", image.id, "gone", unchanged_since=stored.updated_at
    )
    assert failed is not None
    assert (failed.status, failed.failure) == ("failed", "gone")
    again = await catalog.scan.fail_lost("alice", image.id, "gone", unchanged_since=utcnow())
    assert again is None, "already failed"


async def test_reconcile_repairs_counters_a_crash_left_behind(
    catalog: MongoCatalog, bus: JetStreamBus, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    album = AlbumRecord(id=new_image_id(), tenant="alice", name="Trip")
    await catalog.albums.insert_album(album)
    counted = record("alice")
    await catalog.insert_image(counted)
    await catalog.albums.add_to_album("alice", album.id, counted.id)
    await catalog.insert_image(record("bob"))
    # A gateway killed after writing its image and before counting it (insert_image's two
    # steps): the document is there, alice's usage and her album's count miss it.
    lost = record("alice").model_copy(update={"albums": [album.id], "bytes": 500})
    seq = await catalog.tenants.take_seqs("alice")
    await catalog.images.insert_one({**lost.to_document(), "seq": seq})
    assert await catalog.tenants.usage("alice") == (1, 10)

    settings = make_settings(storage=StorageSettings(backend="filesystem", root=tmp_path))
    async with open_object_store(settings) as store:
        service = ReconcileService(catalog.scan, catalog.uploads, store, bus, settings.reconcile)
        dry = await service.run(dry_run=True)
        assert dry.counts["drifted_counters"] == 2, "alice's usage and her album's count"
        assert await catalog.tenants.usage("alice") == (1, 10), "a dry run changes nothing"

        applied = await service.run()
        assert applied.counts["drifted_counters"] == 2
        assert await catalog.tenants.usage("alice") == (2, 510)
        assert await catalog.tenants.usage("bob") == (1, 10), "bob's counters were right"
        assert (await catalog.albums.album_stats("alice", album.id))[0] == 2
        assert (await service.run()).counts["drifted_counters"] == 0, "repaired for good"


async def test_reconcile_counts_a_trashed_photo_in_usage_but_not_in_its_album(
    catalog: MongoCatalog, bus: JetStreamBus, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    album = AlbumRecord(id=new_image_id(), tenant="alice", name="Trip")
    await catalog.albums.insert_album(album)
    photos = [record("alice"), record("alice")]
    for photo in photos:
        await catalog.insert_image(photo)
        await catalog.albums.add_to_album("alice", album.id, photo.id)
    await catalog.trash_image("alice", photos[0].id)
    settings = make_settings(storage=StorageSettings(backend="filesystem", root=tmp_path))
    async with open_object_store(settings) as store:
        service = ReconcileService(catalog.scan, catalog.uploads, store, bus, settings.reconcile)
        assert (await service.run()).counts["drifted_counters"] == 0, "nothing drifted"
    assert await catalog.tenants.usage("alice") == (2, 20)
    assert (await catalog.albums.album_stats("alice", album.id))[0] == 1


async def test_a_counter_repair_leaves_a_counter_that_moved_meanwhile(
    catalog: MongoCatalog,
) -> None:
    await catalog.insert_image(record("alice"))
    seen = await catalog.scan.tenant_counts("alice")
    counted = TenantCounts(images=7, bytes=70, seq=seen.seq)
    await catalog.insert_image(record("alice"))  # an upload while the walk ran
    assert await catalog.scan.repair_counts("alice", seen, counted) == 1
    assert await catalog.tenants.usage("alice") == (2, 20), "the live count stands"


@pytest.mark.parametrize("backend", ["s3", "filesystem"])
async def test_listings_report_size_and_last_modified(
    backend: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings: Settings = make_settings(
        storage=StorageSettings(backend=backend, root=tmp_path / "objects")
    )
    async with open_object_store(settings) as store:
        await store.check()
        before = utcnow()
        await store.put_bytes("renditions/t/a/thumb-h.webp", b"12345", content_type="image/webp")
        await store.put_bytes("originals/t/a", b"xyz", content_type="image/jpeg")
        (listed,) = await store.list_objects("renditions/")
        assert (listed.key, listed.size) == ("renditions/t/a/thumb-h.webp", 5)
        # Clocks of store and test agree to well within a minute (same machine).
        assert before - timedelta(minutes=1) <= listed.modified <= utcnow() + timedelta(minutes=1)
        assert listed.modified.tzinfo is not None
        if backend == "filesystem":
            path = tmp_path / "objects" / "originals/t/a"
            old = (utcnow() - timedelta(hours=3)).timestamp()
            os.utime(path, (old, old))
            (original,) = await store.list_objects("originals/")
            assert original.modified < utcnow() - timedelta(hours=2), "mtime is what it reports"
