"""Live events with replay, through the service on a fake event log.

What a client of ``GET /v1/events`` notices: only its tenant's events, in order; after a
reconnect with the last id it saw, exactly the events it missed and then the live ones,
none twice and none lost, even while events keep coming during the replay; a client too
far behind is told so instead of silently losing events. Through the gateway on real
NATS: ``tests/integration/test_events.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pipeline.domain.errors import BusError, SlowConsumer
from pipeline.domain.messages import AlbumEvent, ImageEvent, StreamedEvent, StreamReset
from pipeline.services.events import EventFeed
from tests.fakes import FakeEventLog, key_principal

pytestmark = pytest.mark.unit


def ready(tenant: str = "acme", n: int = 0) -> ImageEvent:
    return ImageEvent(type="ready", image_id=f"img-{n}", tenant=tenant)


async def publish(log: FakeEventLog, feed: EventFeed, tenant: str = "acme", n: int = 0) -> int:
    """What the bus does: the event lands in the log, then the live follower sees it."""
    item = log.append(ready(tenant, n))
    await feed.publish(item)
    return item.seq


async def take(stream: AsyncIterator[StreamedEvent | StreamReset], count: int) -> list[int]:
    async with asyncio.timeout(10):
        return [(await anext(stream)).seq for _ in range(count)]


async def test_a_stream_gets_its_own_tenants_events_in_order() -> None:
    log = FakeEventLog()
    feed = EventFeed(log, queue_size=16)
    async with feed.open(key_principal("acme")) as stream:
        seqs = []
        for n in range(4):
            seqs.append(await publish(log, feed, "acme" if n % 2 == 0 else "bob", n))
        album = log.append(AlbumEvent(album_id="a1", tenant="acme", action="created"))
        await feed.publish(album)
        assert await take(stream, 3) == [seqs[0], seqs[2], album.seq]


async def test_a_reconnect_replays_what_was_missed_then_goes_live() -> None:
    log = FakeEventLog()
    feed = EventFeed(log, queue_size=64)
    for n in range(10):
        await publish(log, feed, "acme" if n % 3 else "bob", n)
    mine = [item.seq for item in log.events if item.event.tenant == "acme"]
    last_seen = mine[2]

    async def more_while_replaying(item: StreamedEvent) -> None:
        # Events keep coming during the replay: some land in the log before the replay
        # reads that far, all reach the live queue too.
        if item.seq < 8:
            await publish(log, feed, "acme", 100 + item.seq)

    log.during_replay = more_while_replaying
    async with feed.open(key_principal("acme"), after=last_seen) as stream:
        expected_replay = [s for s in mine if s > last_seen]
        got = await take(stream, len(expected_replay))
        after_switch = [await publish(log, feed, "acme", 200 + n) for n in range(3)]
        every_new = [i.seq for i in log.events if i.event.tenant == "acme" and i.seq > last_seen]
        got += await take(stream, len(every_new) - len(got))
    assert got == every_new, "each missed and live event once, in order"
    assert got[-3:] == after_switch


async def test_a_client_too_far_behind_is_told_and_resumes_by_id() -> None:
    log = FakeEventLog()
    feed = EventFeed(log, queue_size=3)
    async with feed.open(key_principal("acme")) as stream:
        await publish(log, feed)
        seen = await take(stream, 1)
        for n in range(6):  # the client does not read meanwhile
            await publish(log, feed, n=n)
        with pytest.raises(SlowConsumer) as told:
            await take(stream, 6)
    assert "Last-Event-ID" in told.value.public_message
    async with feed.open(key_principal("acme"), after=seen[-1]) as resumed:
        assert seen + await take(resumed, 6) == [item.seq for item in log.events]


async def test_the_queue_limit_is_the_setting() -> None:
    log = FakeEventLog()
    feed = EventFeed(log, queue_size=5)
    async with feed.open(key_principal("acme")) as stream:
        for n in range(5):  # five unread events fit the queue: none is lost, none too many
            await publish(log, feed, n=n)
        assert await take(stream, 5) == list(range(1, 6))
        for n in range(6):
            await publish(log, feed, n=n)
        with pytest.raises(SlowConsumer):
            await take(stream, 6)


async def test_close_ends_every_stream() -> None:
    feed = EventFeed(FakeEventLog(), queue_size=4)
    async with feed.open(key_principal("acme")) as stream:
        reading = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)
        feed.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(reading, 10)


async def test_a_replay_that_cannot_read_the_log_fails_loudly() -> None:
    log = FakeEventLog(fail_with=BusError("events stream unreachable"))
    async with EventFeed(log, queue_size=4).open(key_principal("acme"), after=3) as stream:
        with pytest.raises(BusError):
            await take(stream, 1)


async def test_an_id_ahead_of_the_log_gets_a_reset_then_live_events() -> None:
    # The client kept an id from before the stream was recreated (a restore, a new cluster):
    # without the reset it would wait in silence until the new stream reached that id.
    log = FakeEventLog()
    feed = EventFeed(log, queue_size=16)
    for n in range(3):
        await publish(log, feed, n=n)
    async with feed.open(key_principal("acme"), after=5000) as stream:
        async with asyncio.timeout(10):
            reset = await anext(stream)
        assert reset == StreamReset(3), "the log's last id, to resume from after reloading"
        live = [await publish(log, feed, n=10 + n) for n in range(2)]
        assert await take(stream, 2) == live == [4, 5]


async def test_an_id_at_the_end_of_the_log_is_no_reset() -> None:
    log = FakeEventLog()
    feed = EventFeed(log, queue_size=16)
    for n in range(3):
        await publish(log, feed, n=n)
    async with feed.open(key_principal("acme"), after=3) as stream:
        live = await publish(log, feed, n=9)
        async with asyncio.timeout(10):
            assert await anext(stream) == log.events[live - 1]


async def test_a_write_after_the_client_left_ends_the_stream_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The client left between keepalives: the next event's write fails. That is how an event
    # stream normally ends: the handler returns the 200 it started, nothing is logged as an
    # unhandled error (no 500 in the access log, no unexpected_errors_total).
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from aiohttp_sse import EventSourceResponse

    from gateway.appkeys import EVENTS, PRINCIPAL, SETTINGS, STREAM_SHARE
    from gateway.fairshare import Share
    from gateway.sse import stream_events
    from pipeline.runtime.settings import Settings

    async def gone(*_: object, **__: object) -> None:
        raise ConnectionResetError("Cannot write to closing transport")

    log = FakeEventLog()
    feed = EventFeed(log, queue_size=8)
    ended: list[int] = []
    returned = asyncio.Event()

    @web.middleware
    async def as_acme(request: web.Request, handler: Any) -> web.StreamResponse:
        request[PRINCIPAL] = key_principal("acme")
        response: web.StreamResponse = await handler(request)
        ended.append(response.status)
        returned.set()
        return response

    app = web.Application(middlewares=[as_acme])
    app[EVENTS] = feed
    app[STREAM_SHARE] = Share("event streams", total=4, per_tenant=4, per_key=4)
    # A key cache far longer than the test: the stream's revocation check never runs here.
    app[SETTINGS] = Settings(gateway={"key_cache_seconds": 300})
    app.router.add_get("/v1/events", stream_events)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/v1/events")
        assert (await response.content.readline()).startswith(b": connected")
        monkeypatch.setattr(EventSourceResponse, "send", gone)
        await publish(log, feed)
        await asyncio.wait_for(returned.wait(), 10)
        response.close()
    assert ended == [200]
