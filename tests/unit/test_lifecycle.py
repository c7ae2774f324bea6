"""Every image reaches a terminal state: the lease, crash and round rules, on in-memory fakes.

An image is ``ready``, ``failed`` with a reason, or being worked on under a lease
(docs/architecture.md step 5). What a user would notice: a republished job never renders an
image twice at once; an outage longer than a job's retries puts the photo back in the queue
instead of stranding it, and fails it only after ``max_rounds``; a photo that kills its
worker every time ends failed with that reason; the sweeper picks up what nobody finishes;
a redrive says what it did with each letter; every job leaves one log line.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from pipeline.bootstrap import render_policy
from pipeline.domain.errors import CatalogError, RenderCrashed, StorageError
from pipeline.domain.messages import DeadLetter, StoredDeadLetter, utcnow
from pipeline.domain.models import ImageRecord
from pipeline.domain.outcomes import Ack, Delivery, Retry, Terminal
from pipeline.runtime.settings import SweeperSettings, load_settings
from pipeline.services.handback import CLAIM_LINGER, Handback, PendingHandbacks
from pipeline.services.lease import lease_for
from pipeline.services.outbox import republish_stuck
from pipeline.services.redrive import Redriven, redrive
from pipeline.services.render import RenderPolicy
from tests.fakes import key_principal
from tests.images import jpeg_bytes
from tests.unit.test_services import POLICY, TENANT, World, world

pytestmark = pytest.mark.unit
__all__ = ["world"]  # the fixture, imported for this module's tests
SWEEP = SweeperSettings(stale_after_seconds=60)
AN_HOUR = timedelta(hours=1)


async def uploaded(world: World, seed: int = 1) -> ImageRecord:
    return await world.upload(jpeg_bytes(64, 64, seed=seed))


async def catalog_down(*args: object, **kwargs: object) -> ImageRecord | None:
    """Stands in for a catalog method while the catalog refuses connections."""
    raise CatalogError("connection refused")


def age(world: World, record: ImageRecord, **update: object) -> None:
    """Move an image's clocks an hour back (and set ``update``), as time passing would."""
    current = world.image(record.id)
    expiry = current.lease_expires_at
    world.catalog.images[record.id] = current.model_copy(
        update={
            "updated_at": current.updated_at - AN_HOUR,
            "lease_expires_at": None if expiry is None else expiry - AN_HOUR,
            **update,
        }
    )


# --- the lease ---------------------------------------------------------------------------


async def test_a_live_lease_refuses_a_second_claim_and_the_job_waits_for_it(world: World) -> None:
    record = await uploaded(world)
    held = await world.catalog.claim(
        TENANT, record.id, owner="other/1", lease=timedelta(seconds=60)
    )
    assert held is not None

    outcome = await world.run_job(record)
    assert isinstance(outcome, Retry), "a republish never renders an image twice at once"
    assert outcome.delay is not None
    assert outcome.delay > 30
    assert world.renderer.calls == 0
    assert world.image(record.id).lease_owner == "other/1"


async def test_a_live_lease_on_the_last_delivery_is_left_to_its_holder(world: World) -> None:
    record = await uploaded(world)
    await world.catalog.claim(TENANT, record.id, owner="other/1", lease=timedelta(seconds=60))
    assert await world.run_job(record, attempt=POLICY.max_deliver) == Ack()
    assert world.renderer.calls == 0


async def test_the_lease_is_renewed_while_a_long_render_runs(world: World) -> None:
    world.policy = RenderPolicy(
        max_deliver=4, lease=timedelta(seconds=0.3), max_crashes=2, max_rounds=3, worker="w"
    )
    record = await uploaded(world)
    claims_meanwhile: list[ImageRecord | None] = []

    async def render_past_the_lease() -> None:
        first = world.image(record.id).lease_expires_at
        assert first is not None
        deadline = asyncio.get_running_loop().time() + 10
        # Wait (bounded) until the lease was renewed twice: longer than one lease term.
        while (world.image(record.id).lease_expires_at or first) < first + timedelta(seconds=0.2):
            assert asyncio.get_running_loop().time() < deadline, "the lease was never renewed"
            await asyncio.sleep(0.02)
        lease = timedelta(seconds=5)
        claims_meanwhile.append(
            await world.catalog.claim(TENANT, record.id, owner="x", lease=lease)
        )

    world.renderer.during = render_past_the_lease
    assert await world.run_job(record) == Ack()
    assert claims_meanwhile == [None], "a renewed lease stays live"
    ready = world.image(record.id)
    assert (ready.status, ready.lease_owner, ready.crashes) == ("ready", None, 0)


async def test_a_renewal_stuck_in_the_driver_does_not_hold_the_job(world: World) -> None:
    # Seen with SIGKILLed SecantusDB: PyMongo turned the renewer's cancellation into a
    # connection error, the renewer looped on, and the job waited for it forever while
    # its slot stayed taken (every other photo of that worker stayed queued).
    world.policy = RenderPolicy(
        max_deliver=4, lease=timedelta(seconds=0.3), max_crashes=2, max_rounds=3, worker="w"
    )
    record = await uploaded(world)
    renewing = asyncio.Event()

    async def renew_swallowing_cancel(*args: object, **kwargs: object) -> bool:
        renewing.set()
        try:
            await asyncio.sleep(3600)  # the outage: the driver waits
        except asyncio.CancelledError:
            raise CatalogError("connection closed") from None
        return True

    world.catalog.renew = renew_swallowing_cancel  # type: ignore[method-assign]

    async def render_while_renewing() -> None:
        await asyncio.wait_for(renewing.wait(), 10)

    world.renderer.during = render_while_renewing
    assert await asyncio.wait_for(world.run_job(record), 30) == Ack()
    assert world.image(record.id).status == "ready"


async def test_a_render_interrupted_by_drain_hands_the_lease_back(world: World) -> None:
    record = await uploaded(world)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    world.renderer.during = hang
    job = asyncio.create_task(world.run_job(record))
    await asyncio.wait_for(started.wait(), 60)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    image = world.image(record.id)
    assert (image.status, image.lease_owner) == ("processing", None)
    world.renderer.during = None
    await world.run_job(record, attempt=2)
    assert (world.image(record.id).status, world.image(record.id).crashes) == ("ready", 0)


# --- crashes -------------------------------------------------------------------------------


async def test_a_photo_that_kills_its_worker_every_time_fails_with_the_crash_count(
    world: World,
) -> None:
    record = await uploaded(world)
    # A worker claimed it and died mid-render, twice: each time its lease ran out.
    for crash in range(POLICY.max_crashes):
        claimed = await world.catalog.claim(TENANT, record.id, owner=f"dead/{crash}", lease=AN_HOUR)
        assert claimed is not None
        assert claimed.crashes == crash
        age(world, record)
        world.catalog.images[record.id] = world.image(record.id).model_copy(
            update={"lease_expires_at": utcnow() - timedelta(seconds=1)}
        )

    outcome = await world.run_job(record, attempt=POLICY.max_crashes + 1)
    reason = f"render crashed the worker {POLICY.max_crashes} times"
    assert outcome == Terminal(reason)
    assert world.renderer.calls == 0, "not rendered a third time"
    failed = world.image(record.id)
    assert (failed.status, failed.failure, failed.lease_owner) == ("failed", reason, None)
    assert world.bus.event_types(record.id)[-1] == "failed"


async def test_one_crash_below_the_limit_is_taken_over_and_rendered(world: World) -> None:
    record = await uploaded(world)
    await world.catalog.claim(TENANT, record.id, owner="dead/1", lease=AN_HOUR)
    age(world, record)
    assert await world.run_job(record, attempt=2) == Ack()
    ready = world.image(record.id)
    assert (ready.status, ready.crashes, ready.attempts) == ("ready", 1, 2)


async def test_a_render_process_that_dies_every_time_fails_the_photo(world: World) -> None:
    record = await uploaded(world)
    world.renderer.fail_with = RenderCrashed("render process died (exit status -9)")
    first = await world.run_job(record)
    assert isinstance(first, Retry)
    assert (world.image(record.id).crashes, world.image(record.id).lease_owner) == (1, None)
    reason = f"render crashed the worker {POLICY.max_crashes} times"
    assert await world.run_job(record, attempt=2) == Terminal(reason)
    assert (world.image(record.id).status, world.image(record.id).failure) == ("failed", reason)


# --- retries and rounds ------------------------------------------------------------------


async def test_a_retry_gives_the_lease_back_with_the_error(world: World) -> None:
    record = await uploaded(world)
    world.store.fail_with = StorageError("store away")
    assert isinstance(await world.run_job(record), Retry)
    image = world.image(record.id)
    assert (image.status, image.lease_owner) == ("processing", None)
    assert image.last_error == "storage_unavailable: store away"
    world.store.fail_with = None
    assert await world.run_job(record, attempt=2) == Ack()
    assert world.image(record.id).crashes == 0, "a released lease is not a crash"


async def test_a_lease_the_catalog_could_not_take_back_is_handed_back_not_counted_a_crash(
    world: World,
) -> None:
    record = await uploaded(world)
    service = world.render()  # one worker: what it could not hand back, it remembers
    release = world.catalog.release

    world.store.fail_with = StorageError("store away")  # the render fails on the store...
    world.catalog.release = catalog_down  # type: ignore[method-assign]  # ...and the catalog
    job = Delivery(job=record.render_job("upload"), attempt=1, subject="test")
    assert isinstance(await service.handle(job), Retry)
    assert world.image(record.id).lease_owner is not None, "the release could not get through"
    assert len(service.handbacks) == 1

    world.catalog.release = release  # type: ignore[method-assign]  # the catalog is back
    world.store.fail_with = None
    stop = asyncio.Event()
    flusher = asyncio.create_task(service.handbacks.run(stop, every=0.01))
    try:
        for _ in range(200):
            if world.image(record.id).lease_owner is None:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await flusher
    assert world.image(record.id).lease_owner is None, "handed back in the background"
    assert len(service.handbacks) == 0

    assert await service.handle(replace(job, attempt=2)) == Ack()
    ready = world.image(record.id)
    assert (ready.status, ready.crashes) == ("ready", 0), "an outage is not a crash"


async def test_a_pending_hand_back_goes_first_when_the_next_job_starts(world: World) -> None:
    record = await uploaded(world)
    service = world.render()
    release = world.catalog.release

    world.store.fail_with = StorageError("store away")
    world.catalog.release = catalog_down  # type: ignore[method-assign]
    job = Delivery(job=record.render_job("upload"), attempt=1, subject="test")
    assert isinstance(await service.handle(job), Retry)
    world.catalog.release = release  # type: ignore[method-assign]
    world.store.fail_with = None
    # The redelivery comes before the lease lapsed: without the hand-back it would wait for
    # the lease, then take it over as a crash.
    assert await service.handle(replace(job, attempt=2)) == Ack()
    assert (world.image(record.id).status, world.image(record.id).crashes) == ("ready", 0)


async def test_a_catalog_down_on_the_last_delivery_is_not_counted_a_crash_later(
    world: World,
) -> None:
    record = await uploaded(world)
    service = world.render()
    requeue_round = world.catalog.requeue_round

    world.store.fail_with = StorageError("store away")
    world.catalog.requeue_round = catalog_down  # type: ignore[method-assign]
    last = Delivery(job=record.render_job("upload"), attempt=POLICY.max_deliver, subject="test")
    assert await service.handle(last) == Ack(), "no delivery left: the sweeper covers it"
    assert len(service.handbacks) == 1

    world.catalog.requeue_round = requeue_round  # type: ignore[method-assign]
    world.store.fail_with = None
    assert await service.handbacks.flush() == 1
    age(world, record)
    world.bus.jobs.clear()
    assert await republish_stuck(world.bus, world.catalog, SWEEP) == 1
    [job] = world.bus.jobs
    assert await service.handle(Delivery(job=job, attempt=1, subject="test")) == Ack()
    ready = world.image(record.id)
    assert (ready.status, ready.crashes) == ("ready", 0), "the outage was not a crash"


async def test_a_timed_out_claim_that_the_catalog_applies_later_is_handed_back(
    world: World,
) -> None:
    """A frozen catalog applies a claim after the worker gave up on it (the request waited in
    its socket buffer): the lease has no job, and its takeover must not count a crash."""
    record = await uploaded(world)
    service = world.render()
    claim = world.catalog.claim
    zombie: list[object] = []

    async def applied_after_the_timeout(*args: Any, **kwargs: Any) -> ImageRecord | None:
        zombie.append(await claim(*args, **kwargs))  # the thawed catalog applies it...
        raise CatalogError("timed out")  # ...after the client had given up

    world.catalog.claim = applied_after_the_timeout  # type: ignore[method-assign]
    job = Delivery(job=record.render_job("upload"), attempt=1, subject="test")
    assert isinstance(await service.handle(job), Retry)
    assert zombie
    assert world.image(record.id).lease_owner is not None, "a lease that no job holds"

    world.catalog.claim = claim  # type: ignore[method-assign]
    assert await service.handle(replace(job, attempt=2)) == Ack()
    ready = world.image(record.id)
    assert (ready.status, ready.crashes) == ("ready", 0), "handed back first, not taken over"


async def test_a_timed_out_claim_that_never_arrived_is_given_up_after_the_linger(
    world: World,
) -> None:
    record = await uploaded(world)
    now = [0.0]
    handbacks = PendingHandbacks(world.catalog, clock=lambda: now[0])
    handbacks.remember(Handback("t", record.id, "w/never", "claim timed out", linger=CLAIM_LINGER))
    assert await handbacks.flush() == 0
    assert len(handbacks) == 1, "the claim may still be applied: kept"
    now[0] += CLAIM_LINGER.total_seconds() + 1
    assert await handbacks.flush() == 0
    assert len(handbacks) == 0, "given up after the linger"


async def test_an_outage_past_the_retries_requeues_the_photo_for_the_sweeper(
    world: World,
) -> None:
    record = await uploaded(world)
    world.store.fail_with = StorageError("store away")
    assert await world.run_job(record, attempt=POLICY.max_deliver) == Ack()
    image = world.image(record.id)
    assert (image.status, image.rounds, image.lease_owner) == ("queued", 1, None)
    assert image.failure is None, "an outage is not the photo's fault"

    # The dependency comes back; the sweeper republishes the photo as a new job.
    world.store.fail_with = None
    world.bus.jobs.clear()
    age(world, record)
    assert await republish_stuck(world.bus, world.catalog, SWEEP) == 1
    [job] = world.bus.jobs
    assert job.image_id == record.id
    assert job.sweep.startswith("a1-"), "named by the state it saw, not the upload's id"
    assert await world.run_job(world.image(record.id)) == Ack()
    assert world.image(record.id).status == "ready"


async def test_the_photo_fails_with_the_last_error_after_max_rounds(world: World) -> None:
    record = await uploaded(world)
    world.store.fail_with = StorageError("store away")
    for _ in range(POLICY.max_rounds - 1):
        assert await world.run_job(record, attempt=POLICY.max_deliver) == Ack()
        assert world.image(record.id).status == "queued"
    outcome = await world.run_job(record, attempt=POLICY.max_deliver)
    reason = f"gave up after {POLICY.max_rounds} rounds of retries: storage_unavailable: store away"
    assert outcome == Terminal(reason)
    assert (world.image(record.id).status, world.image(record.id).failure) == ("failed", reason)


async def test_a_catalog_down_at_claim_retries_then_leaves_the_photo_to_the_sweeper(
    world: World,
) -> None:
    record = await uploaded(world)

    world.catalog.claim = catalog_down  # type: ignore[method-assign]
    assert isinstance(await world.run_job(record), Retry)
    assert await world.run_job(record, attempt=POLICY.max_deliver) == Ack()
    assert world.image(record.id).status == "queued", "queued: the sweeper covers it"


async def test_an_unexpected_error_is_retried_like_an_outage(world: World) -> None:
    record = await uploaded(world)
    world.renderer.fail_with = None

    async def bug() -> None:
        raise KeyError("oops")

    world.renderer.during = bug
    outcome = await world.run_job(record)
    assert isinstance(outcome, Retry)
    assert outcome.reason.startswith("unexpected: KeyError")
    assert world.image(record.id).lease_owner is None


# --- the sweeper -------------------------------------------------------------------------


async def test_the_sweeper_covers_expired_leases_but_not_live_ones(world: World) -> None:
    live = await uploaded(world, seed=1)
    dead = await uploaded(world, seed=2)
    await world.catalog.claim(TENANT, live.id, owner="alive/1", lease=AN_HOUR * 3)
    await world.catalog.claim(TENANT, dead.id, owner="dead/1", lease=timedelta(seconds=5))
    age(world, live)
    age(world, dead)
    world.bus.jobs.clear()

    assert await republish_stuck(world.bus, world.catalog, SWEEP) == 1
    assert [(j.image_id, j.sweep[:3]) for j in world.bus.jobs] == [(dead.id, "a1-")]
    assert await republish_stuck(world.bus, world.catalog, SWEEP) == 0, "the clock restarts"
    assert await world.run_job(world.image(dead.id)) == Ack()
    taken_over = world.image(dead.id)
    assert (taken_over.status, taken_over.crashes) == ("ready", 1)


# --- redrive -----------------------------------------------------------------------------


async def test_redrive_says_what_it_does_for_every_status(world: World) -> None:
    images = {name: await uploaded(world, seed=i) for i, name in enumerate(STATUSES)}
    await world.run_job(images["ready"])
    world.renderer.fail_with = StorageError("x")
    await world.catalog.claim(TENANT, images["processing"].id, owner="o", lease=AN_HOUR)
    world.catalog.images[images["failed"].id] = images["failed"].model_copy(
        update={"status": "failed", "failure": "undecodable", "crashes": 2, "rounds": 1}
    )
    await world.delete().delete(key_principal(TENANT), images["deleted"].id, permanent=True)
    world.bus.letters = [
        StoredDeadLetter(seq, DeadLetter(job=images[name].render_job(), reason="r", attempts=1))
        for seq, name in enumerate(STATUSES)
    ]
    world.bus.jobs.clear()

    done: list[Redriven] = [d async for d in redrive(world.bus, world.catalog)]
    assert {d.status: d.action for d in done} == STATUSES
    assert world.bus.letters == [], "every letter answered for"
    requeued = sorted(j.image_id for j in world.bus.jobs)
    expected = sorted(images[n].id for n in ("queued", "processing", "failed"))
    assert requeued == expected
    reset = world.image(images["failed"].id)
    assert (reset.status, reset.crashes, reset.rounds, reset.failure) == ("queued", 0, 0, None)


STATUSES = {
    "queued": "requeued",
    "processing": "requeued",
    "failed": "reset and requeued",
    "ready": "letter dropped: the image is ready",
    "deleted": "letter dropped: the image was deleted",
}


# --- the log line and the settings -------------------------------------------------------


async def test_every_job_outcome_is_one_structured_log_line(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    record = await uploaded(world)
    world.store.fail_with = StorageError("store away")
    with caplog.at_level(logging.INFO, logger="gallery.jobs"):
        await world.run_job(record)
        world.store.fail_with = None
        await world.run_job(record, attempt=2)
    lines = [r.getMessage() for r in caplog.records if r.name == "gallery.jobs"]
    assert len(lines) == 2
    assert lines[0].startswith(f"job image={record.id} tenant={TENANT} outcome=retry attempt=1 ")
    assert 'reason="storage_unavailable: store away"' in lines[0]
    assert f"image={record.id} tenant={TENANT} outcome=ready attempt=2 duration_s=" in lines[1]
    fields = caplog.records[-1].__dict__["job"]
    assert set(fields) == {"image", "tenant", "outcome", "attempt", "duration_s"}


def test_the_lifecycle_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GALLERY_WORKER_MAX_CRASHES", "5")
    monkeypatch.setenv("GALLERY_WORKER_MAX_ROUNDS", "7")
    monkeypatch.setenv("GALLERY_NATS_MAX_DELIVER", "9")
    monkeypatch.setenv("GALLERY_NATS_ACK_WAIT_SECONDS", "12")
    policy = render_policy(load_settings())
    assert (policy.max_crashes, policy.max_rounds, policy.max_deliver) == (5, 7, 9)
    assert policy.lease == lease_for(12) == timedelta(seconds=8)
