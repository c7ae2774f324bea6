"""Cleanup after a delete and reconcile, through the services on in-memory fakes.

What a user would notice: a delete during a store outage still answers, and once the store
is back the photo's objects are gone; `gallery reconcile` removes objects nobody owns,
fails photos whose original vanished, re-renders photos whose renditions vanished, and
leaves young things and open resumable uploads alone; `--dry-run` changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.domain import names
from pipeline.domain.errors import StorageError
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, TenantCounts, WalkPosition
from pipeline.domain.outcomes import Ack, Delivery
from pipeline.domain.uploads import UploadRecord
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings, ReconcileSettings, load_settings
from pipeline.services.delete import CleanupService
from pipeline.services.reconcile import MISSING_ORIGINAL, ReconcileService
from pipeline.services.render import RenderService
from tests.fakes import (
    FakeBus,
    FakeCatalog,
    FakeImageScan,
    FakeObjectStore,
    FakeRenderer,
    FakeUploadCatalog,
    key_principal,
)
from tests.images import jpeg_bytes
from tests.unit.test_services import POLICY, TENANT, World, body

pytestmark = pytest.mark.unit
HOUR = timedelta(hours=1)


@pytest.fixture
def world() -> World:
    return World(
        FakeCatalog(), FakeObjectStore(), FakeBus(), FakeRenderer(DEFAULT_SPEC), LimitsSettings()
    )


async def ready_image(world: World, seed: int = 0) -> ImageRecord:
    record = (await world.ingest().ingest(TENANT, body(jpeg_bytes(64, 64, seed=seed)))).record
    await world.run_job(record)
    return world.image(record.id)


def age_everything(world: World, by: timedelta = 2 * HOUR) -> None:
    """Make every object and document older than reconcile's minimum age."""
    for key in world.store.objects:
        world.store.modified[key] = utcnow() - by
    for image_id, record in world.catalog.images.items():
        world.catalog.images[image_id] = record.model_copy(
            update={"updated_at": utcnow() - by, "created_at": utcnow() - by}
        )


def reconciler(
    world: World,
    uploads: FakeUploadCatalog | None = None,
    settings: ReconcileSettings | None = None,
    scan: FakeImageScan | None = None,
) -> ReconcileService:
    return ReconcileService(
        scan or FakeImageScan(world.catalog),
        uploads or FakeUploadCatalog(),
        world.store,
        world.bus,
        settings or ReconcileSettings(),  # the default: an hour
    )


# --- cleanup -------------------------------------------------------------------------------


async def test_delete_queues_one_cleanup_job_naming_every_object(world: World) -> None:
    record = await ready_image(world)
    await world.delete().delete(key_principal(TENANT), record.id, permanent=True)
    assert record.id not in world.catalog.images, "the document goes at once"
    (job,) = world.bus.cleanups
    assert job.keys == [record.original_key]
    assert job.prefixes == [names.rendition_prefix(TENANT, record.id)]
    assert world.bus.event_types(record.id)[-1] == "deleted"


async def test_a_store_outage_during_delete_loses_nothing_and_leaves_nothing(
    world: World,
) -> None:
    record = await ready_image(world)
    world.store.fail_with = StorageError("store away")
    await world.delete().delete(
        key_principal(TENANT), record.id, permanent=True
    )  # answers: the document is gone
    (job,) = world.bus.cleanups
    cleanup = CleanupService(world.store)
    for attempt in (1, 2, 3):  # the lane retries; each attempt fails while the store is away
        with pytest.raises(StorageError):
            await cleanup.handle(Delivery(job=job, attempt=attempt, subject="test"))
    assert world.store.objects, "nothing was lost: the objects wait for the store"
    world.store.fail_with = None
    assert await cleanup.handle(Delivery(job=job, attempt=4, subject="test")) == Ack()
    assert world.store.objects == {}


async def test_with_the_bus_down_a_delete_removes_the_objects_itself(world: World) -> None:
    record = await ready_image(world)
    world.bus.down = True
    await world.delete().delete(key_principal(TENANT), record.id, permanent=True)
    assert world.bus.cleanups == []
    assert (world.catalog.images, world.store.objects) == ({}, {})


async def test_with_bus_and_store_down_the_delete_still_answers_and_reconcile_finishes_it(
    world: World,
) -> None:
    record = await ready_image(world)
    world.bus.down, world.store.fail_with = True, StorageError("store away")
    await world.delete().delete(key_principal(TENANT), record.id, permanent=True)
    world.bus.down, world.store.fail_with = False, None
    age_everything(world)
    report = await reconciler(world).run()
    assert report.counts["orphan_originals"] == 1
    assert report.counts["orphan_renditions"] == len(DEFAULT_SPEC)
    assert world.store.objects == {}


async def test_cleanup_is_idempotent(world: World) -> None:
    record = await ready_image(world)
    await world.delete().delete(key_principal(TENANT), record.id, permanent=True)
    job = world.bus.cleanups[0]
    cleanup = CleanupService(world.store)
    assert await cleanup.handle(Delivery(job=job, attempt=1, subject="test")) == Ack()
    assert await cleanup.handle(Delivery(job=job, attempt=2, subject="test")) == Ack(), (
        "a redelivery finds nothing left: still done"
    )


# --- reconcile -----------------------------------------------------------------------------


async def test_reconcile_on_an_agreeing_store_and_catalog_finds_nothing(world: World) -> None:
    await ready_image(world)
    age_everything(world)
    report = await reconciler(world).run()
    assert sum(report.counts.values()) == 0


async def test_reconcile_removes_old_orphans_and_leaves_young_ones(world: World) -> None:
    await ready_image(world)
    old, young = "originals/acme/01OLDORPHAN", "renditions/acme/01YOUNG/thumb-x.webp"
    await world.store.put_bytes(old, b"old", content_type="image/jpeg")
    age_everything(world)
    await world.store.put_bytes(young, b"young", content_type="image/webp")
    report = await reconciler(world).run()
    assert report.as_dict() == {
        "orphan_originals": 1,
        "orphan_renditions": 0,
        "missing_originals": 0,
        "missing_renditions": 0,
        "drifted_counters": 0,
        "skipped_young": 1,
        "skipped_busy_counters": 0,
        "skipped_open_uploads": 0,
    }
    assert old not in world.store.objects
    assert young in world.store.objects


async def test_reconcile_repairs_counters_that_drifted_and_a_dry_run_only_counts_them(
    world: World,
) -> None:
    record = await ready_image(world)
    age_everything(world)
    scan = FakeImageScan(world.catalog)
    # A process killed after writing the image and before counting it: the tenant's usage
    # misses the photo, and its album's count is one short.
    scan.counters[TENANT] = TenantCounts(images=0, bytes=0, seq=record.seq, albums={"A1": 0})
    world.catalog.images[record.id] = record.model_copy(update={"albums": ["A1"]})

    dry = await reconciler(world, scan=scan).run(dry_run=True)
    assert dry.counts["drifted_counters"] == 2, "usage and the album"
    assert scan.counters[TENANT].images == 0, "a dry run changes nothing"

    assert (await reconciler(world, scan=scan).run()).counts["drifted_counters"] == 2
    repaired = scan.counters[TENANT]
    assert (repaired.images, repaired.bytes, repaired.albums) == (1, record.bytes, {"A1": 1})
    assert (await reconciler(world, scan=scan).run()).counts["drifted_counters"] == 0


async def test_a_resumed_reconcile_checks_documents_but_leaves_objects_alone(
    world: World,
) -> None:
    record = await ready_image(world)
    await world.store.delete(record.original_key)
    orphan = "originals/acme/01OLDORPHAN"
    await world.store.put_bytes(orphan, b"old", content_type="image/jpeg")
    age_everything(world)
    report = await reconciler(world).run(after=WalkPosition(TENANT, 0))
    assert report.counts["missing_originals"] == 1
    assert report.counts["orphan_originals"] == 0, "only a whole walk knows every key in use"
    assert orphan in world.store.objects


async def test_reconcile_never_touches_uploads_or_open_upload_keys(world: World) -> None:
    uploads = FakeUploadCatalog()
    now = utcnow()
    target = names.original_key(TENANT, "01OPENUPLOAD")
    await uploads.insert_upload(
        UploadRecord(
            id="u1",
            tenant=TENANT,
            key=target,
            image_id="01OPENUPLOAD",
            length=10,
            created_at=now,
            expires_at=now + HOUR,
        )
    )
    tail = names.upload_tail_key(TENANT, "u1", "t1")
    for key in (target, tail):
        await world.store.put_bytes(key, b"x", content_type="application/octet-stream")
    age_everything(world)
    report = await reconciler(world, uploads).run()
    assert report.counts["skipped_open_uploads"] == 1
    assert {target, tail} <= set(world.store.objects)


async def test_reconcile_fails_an_image_whose_original_is_gone(world: World) -> None:
    record = await ready_image(world)
    await world.store.delete(record.original_key)
    age_everything(world)
    report = await reconciler(world).run()
    assert report.counts["missing_originals"] == 1
    image = world.image(record.id)
    assert (image.status, image.failure) == ("failed", MISSING_ORIGINAL)
    assert (await reconciler(world).run()).counts["missing_originals"] == 0, "fixed for good"


async def test_reconcile_rerenders_an_image_whose_renditions_are_gone(world: World) -> None:
    record = await ready_image(world)
    await world.store.delete_prefix(names.rendition_prefix(TENANT, record.id))
    age_everything(world)
    report = await reconciler(world).run()
    assert report.counts["missing_renditions"] == 1
    (job,) = [j for j in world.bus.jobs if j.reason == "reconcile"]
    render = RenderService(world.catalog, world.store, world.bus, world.renderer, policy=POLICY)
    assert await render.handle(Delivery(job=job, attempt=1, subject="test")) == Ack()
    image = world.image(record.id)
    assert image.status == "ready"
    assert all(r.key in world.store.objects for r in image.renditions.values())


async def test_reconcile_leaves_a_young_document_alone(world: World) -> None:
    record = await ready_image(world)
    await world.store.delete(record.original_key)
    report = await reconciler(world).run()
    assert report.counts["skipped_young"] == 1
    assert world.image(record.id).status == "ready"


async def test_reconcile_dry_run_counts_and_changes_nothing(world: World) -> None:
    gone = await ready_image(world, seed=1)
    await world.store.delete(gone.original_key)
    await world.store.put_bytes("originals/acme/01ORPHAN", b"x", content_type="image/jpeg")
    age_everything(world)
    objects, images = dict(world.store.objects), dict(world.catalog.images)
    jobs = len(world.bus.jobs)
    report = await reconciler(world).run(dry_run=True)
    assert (report.counts["orphan_originals"], report.counts["missing_originals"]) == (1, 1)
    assert (world.store.objects, world.catalog.images) == (objects, images)
    assert len(world.bus.jobs) == jobs


async def test_the_minimum_age_is_a_setting(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    young = "originals/acme/01JUSTNOW"
    await world.store.put_bytes(young, b"x", content_type="image/jpeg")
    world.store.modified[young] = utcnow() - timedelta(seconds=90)
    assert (await reconciler(world).run()).counts["skipped_young"] == 1, "default: an hour"
    monkeypatch.setenv("GALLERY_RECONCILE_MIN_AGE_SECONDS", "60")
    settings = load_settings().reconcile
    assert settings.min_age_seconds == 60
    report = await reconciler(world, settings=settings).run()
    assert report.counts["orphan_originals"] == 1
    assert young not in world.store.objects
