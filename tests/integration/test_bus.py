"""The JetStream bus against a real nats-server: declaration, de-duplication, outcomes, drain."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator

import pytest
from nats.js.api import RetentionPolicy

from gallery.servers import ManagedProcess
from pipeline.adapters.bus import JetStreamBus
from pipeline.adapters.consumer import LaneConsumer, SlotPool
from pipeline.domain import names
from pipeline.domain.errors import StorageError
from pipeline.domain.messages import RenderJob, utcnow
from pipeline.domain.outcomes import Ack, Delivery, Outcome, Retry, Terminal
from pipeline.jobs.fate import backoff_delay
from pipeline.jobs.registry import BoundLane
from pipeline.runtime.settings import NatsSettings
from tests.waiting import GENEROUS, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def nats_settings(nats_server: ManagedProcess) -> NatsSettings:
    return NatsSettings(
        url=f"nats://127.0.0.1:{nats_server.port}",
        ack_wait_seconds=2.0,
        max_deliver=3,
        backoff_base_seconds=0.1,
        backoff_max_seconds=0.4,
    )


@pytest.fixture
async def bus(nats_settings: NatsSettings) -> AsyncIterator[JetStreamBus]:
    async with JetStreamBus.connect(nats_settings, name="test") as connected:
        await connected.declare()
        yield connected


def job(image_id: str) -> RenderJob:
    return RenderJob(
        image_id=image_id, tenant="t", original_key=f"originals/t/{image_id}", uploaded_at=utcnow()
    )


@contextlib.asynccontextmanager
async def consuming(
    bus: JetStreamBus, handler: object, concurrency: int = 2
) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    (render,) = [lane for lane in bus.lanes if lane.name == names.RENDER_CONSUMER]
    lane = dataclasses.replace(render, slots=concurrency, fetch_batch=4)
    consumer = LaneConsumer(
        bus,
        BoundLane(lane, handler),  # type: ignore[arg-type]
        SlotPool(concurrency),
        drain_timeout=3.0,
    )
    task = asyncio.create_task(consumer.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, GENEROUS)


async def pending(bus: JetStreamBus) -> int:
    info = await bus.js.consumer_info(names.RENDER_STREAM, names.RENDER_CONSUMER)
    return int(info.num_pending or 0) + int(info.num_ack_pending or 0)


async def test_declare_is_idempotent_and_matches_the_shared_names(bus: JetStreamBus) -> None:
    await bus.declare()
    await bus.declare()
    jobs = await bus.js.stream_info(names.JOBS_STREAM)
    assert set(jobs.config.subjects or []) == set(names.JOBS_SUBJECTS)
    assert jobs.config.retention == RetentionPolicy.WORK_QUEUE
    render = await bus.js.consumer_info(names.RENDER_STREAM, names.RENDER_CONSUMER)
    backfill = await bus.js.consumer_info(names.JOBS_STREAM, names.BACKFILL_CONSUMER)
    assert render.config.filter_subject == names.RENDER_SUBJECTS
    assert (backfill.config.max_ack_pending or 0) < (render.config.max_ack_pending or 0)
    for stream in (names.EVENTS_STREAM, names.DLQ_STREAM):
        await bus.js.stream_info(stream)
    await bus.check()


async def test_same_image_published_twice_is_one_job(bus: JetStreamBus) -> None:
    await bus.publish_job(job("img-1"))
    await bus.publish_job(job("img-1"))
    await bus.publish_job(job("img-2"))
    assert await pending(bus) == 2


async def test_ack_removes_the_job(bus: JetStreamBus) -> None:
    seen: list[str] = []
    done = asyncio.Event()

    async def handler(delivery: Delivery) -> Outcome:
        seen.append(delivery.job.image_id)
        done.set()
        return Ack()

    await bus.publish_job(job("a"))
    async with consuming(bus, handler):
        await asyncio.wait_for(done.wait(), GENEROUS)
    assert seen == ["a"]
    assert await pending(bus) == 0


async def test_retry_redelivers_with_backoff_then_dead_letters(bus: JetStreamBus) -> None:
    attempts: list[float] = []
    exhausted = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def handler(delivery: Delivery) -> Outcome:
        attempts.append(loop.time())
        if delivery.attempt == bus.settings.max_deliver:
            exhausted.set()
        return Retry("storage down")

    await bus.publish_job(job("flaky"))
    async with consuming(bus, handler):
        await asyncio.wait_for(exhausted.wait(), GENEROUS)

        async def lettered() -> bool:
            return bool(await bus.dead_letters())

        await eventually(lettered, "the dead letter")
    assert len(attempts) == bus.settings.max_deliver
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    base, cap = bus.settings.backoff_base_seconds, bus.settings.backoff_max_seconds
    assert gaps[0] >= backoff_delay(1, base=base, cap=cap) * 0.9
    assert gaps[1] >= backoff_delay(2, base=base, cap=cap) * 0.9
    letters = await bus.dead_letters()
    assert [(d.letter.job.image_id, d.letter.attempts) for d in letters] == [("flaky", 3)]
    assert "storage down" in letters[0].letter.reason
    assert await pending(bus) == 0


async def test_terminal_goes_to_dead_letters_at_once(bus: JetStreamBus) -> None:
    calls = 0

    async def handler(_: Delivery) -> Outcome:
        nonlocal calls
        calls += 1
        return Terminal("undecodable: not a JPEG")

    await bus.publish_job(job("broken"))

    async def lettered() -> bool:
        return bool(await bus.dead_letters())

    async with consuming(bus, handler):
        await eventually(lettered, "the dead letter")
    assert calls == 1
    assert (await bus.dead_letters())[0].letter.reason == "undecodable: not a JPEG"


async def test_retryable_errors_retry_and_bad_messages_dead_letter(bus: JetStreamBus) -> None:
    calls: list[int] = []

    async def handler(delivery: Delivery) -> Outcome:
        calls.append(delivery.attempt)
        if delivery.attempt == 1:
            raise StorageError("s3 unreachable")
        return Ack()

    junk_subject = names.render_subject("t", "junk")
    await bus.js.publish(junk_subject, b"{not json", headers={"Nats-Msg-Id": "junk"})
    await bus.publish_job(job("retry-me"))

    async def retried() -> bool:
        return calls[-1:] == [2]

    async def dead_lettered() -> bool:
        return len(await bus.dead_letters()) == 1

    async with consuming(bus, handler):
        await eventually(retried, "the second delivery")
        await eventually(dead_lettered, "the undecodable message in the dead-letter stream")
    assert calls == [1, 2]
    assert await pending(bus) == 0
    (stored,) = await bus.dead_letters()
    assert stored.letter.job is None
    assert stored.letter.payload == "{not json"
    assert stored.letter.reason.startswith("bad message: cannot decode RenderJob")


async def test_slow_jobs_send_heartbeats_instead_of_being_redelivered(bus: JetStreamBus) -> None:
    deliveries = 0
    finished = asyncio.Event()

    async def handler(_: Delivery) -> Outcome:
        nonlocal deliveries
        deliveries += 1
        # A job that works for longer than ack_wait (2.5 times it).
        await asyncio.sleep(bus.settings.ack_wait_seconds * 2.5)
        finished.set()
        return Ack()

    await bus.publish_job(job("slow"))
    async with consuming(bus, handler):
        await asyncio.wait_for(finished.wait(), GENEROUS)
    assert deliveries == 1
    assert await pending(bus) == 0


async def test_stop_drains_in_flight_jobs(bus: JetStreamBus) -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def handler(_: Delivery) -> Outcome:
        started.set()
        await asyncio.sleep(0.5)
        finished.set()
        return Ack()

    await bus.publish_job(job("draining"))
    async with consuming(bus, handler):
        await asyncio.wait_for(started.wait(), GENEROUS)
    assert finished.is_set()
    assert await pending(bus) == 0
