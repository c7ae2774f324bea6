"""Fairness and priority against a real nats-server: one tenant's backlog waits in the catalog,
another tenant's photo is next in line; fresh uploads take render slots before backfill."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from gallery.servers import ManagedProcess
from pipeline.adapters.bus import JetStreamBus
from pipeline.adapters.consumer import LaneConsumer, SlotPool
from pipeline.domain import names
from pipeline.domain.messages import JobReason, RenderJob, utcnow
from pipeline.domain.outcomes import Ack, Delivery, Outcome
from pipeline.jobs.registry import BoundLane, Lane, job_lanes
from pipeline.runtime.settings import JobsSettings, NatsSettings, Settings
from tests.waiting import GENEROUS, eventually

pytestmark = pytest.mark.integration

SHARE = 3


@pytest.fixture
async def bus(nats_server: ManagedProcess) -> AsyncIterator[JetStreamBus]:
    nats = NatsSettings(url=f"nats://127.0.0.1:{nats_server.port}", ack_wait_seconds=5.0)
    jobs = JobsSettings(tenant_queued=SHARE, tenant_weights="studio=2")
    lanes = job_lanes(Settings(nats=nats, jobs=jobs))
    async with JetStreamBus.connect(nats, name="test", lanes=lanes, jobs=jobs) as connected:
        await connected.declare()
        yield connected


def job(tenant: str, image_id: str, reason: JobReason = "upload") -> RenderJob:
    return RenderJob(
        image_id=image_id,
        tenant=tenant,
        original_key=f"originals/{tenant}/{image_id}",
        uploaded_at=utcnow(),
        reason=reason,
    )


def lane(bus: JetStreamBus, name: str, slots: int) -> Lane[Any]:
    (found,) = [one for one in bus.lanes if one.name == name]
    return dataclasses.replace(found, slots=slots, fetch_batch=slots)


@contextlib.asynccontextmanager
async def worker(
    bus: JetStreamBus, lanes: Sequence[Lane[Any]], handler: Any, slots: int
) -> AsyncIterator[None]:
    """Lanes sharing one pool of ``slots``, each behind the lanes listed before it."""
    stop, pool = asyncio.Event(), SlotPool(capacity=slots)
    consumers = [
        LaneConsumer(bus, BoundLane(one, handler), pool, drain_timeout=3.0, ahead=lanes[:i])
        for i, one in enumerate(lanes)
    ]
    tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), GENEROUS)


async def test_a_tenants_import_waits_in_the_catalog_beyond_its_share(bus: JetStreamBus) -> None:
    """The render stream holds SHARE jobs of a tenant; the rest are refused, not dropped."""
    accepted = [await bus.publish_job(job("importer", f"a-{n:03}")) for n in range(30)]
    assert accepted == [True] * SHARE + [False] * (30 - SHARE)
    assert await bus.publish_job(job("importer", "a-000")), "a republish is a duplicate, not new"
    assert await bus.publish_job(job("visitor", "b-1")), "another tenant has its own share"
    weighted = [await bus.publish_job(job("studio", f"s-{n}")) for n in range(10)]
    assert weighted.count(True) <= 2 * SHARE, "weight 2: two shares at most"
    assert weighted.count(True) > SHARE, "weight 2: more than one share"


async def test_another_tenants_photo_is_served_within_the_bound(bus: JetStreamBus) -> None:
    """B's one photo comes after at most SHARE of A's jobs, however many A has queued: the
    worker refills A (its next queued photo) after each of A's jobs, as the render service does."""
    backlog = [f"a-{n:03}" for n in range(40)]
    served: list[str] = []

    async def refill_and_ack(delivery: Delivery[RenderJob]) -> Outcome:
        served.append(delivery.job.image_id)
        await asyncio.sleep(0.02)
        if delivery.job.tenant == "importer":
            for image_id in backlog:
                if image_id not in served and not await bus.publish_job(job("importer", image_id)):
                    break
        return Ack()

    for image_id in backlog:
        if not await bus.publish_job(job("importer", image_id)):
            break
    render = lane(bus, names.RENDER_CONSUMER, slots=1)
    async with worker(bus, [render], refill_and_ack, slots=1):
        await eventually(lambda: _at_least(served, 5), "the import under way")
        assert await bus.publish_job(job("visitor", "b-1"))
        await eventually(lambda: _contains(served, "b-1"), "the visitor's photo")
    waited = served.index("b-1") - served.index(served[4])
    assert waited <= SHARE + 1, f"B's photo came after {waited} of A's jobs: {served}"


async def test_fresh_uploads_take_slots_before_backfill(bus: JetStreamBus) -> None:
    """With 40 re-renders queued, a new upload is served next: backfill runs only in slots the
    render lane leaves idle, so the upload waits at most for the one backfill job running."""
    served: list[str] = []

    async def slow(delivery: Delivery[RenderJob]) -> Outcome:
        served.append(delivery.job.image_id)
        await asyncio.sleep(0.1)
        return Ack()

    for n in range(40):
        await bus.publish_job(job("library", f"old-{n:02}", reason="backfill"))
    lanes = [lane(bus, names.RENDER_CONSUMER, 1), lane(bus, names.BACKFILL_CONSUMER, 1)]
    async with worker(bus, lanes, slow, slots=1):
        await eventually(lambda: _at_least(served, 3), "the backfill under way")
        before = len(served)
        await bus.publish_job(job("library", "fresh"))
        await eventually(lambda: _contains(served, "fresh"), "the fresh upload")
    assert served.index("fresh") <= before + 1, f"the upload waited behind backfill: {served}"
    assert len(served) < 40, "the backfill was not finished first"


async def _at_least(served: list[str], count: int) -> bool:
    return len(served) >= count


async def _contains(served: list[str], image_id: str) -> bool:
    return image_id in served
