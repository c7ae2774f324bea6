"""``GET /v1/events``: live image events (uploaded, ready, failed, deleted) as SSE.

The framing, keepalive pings and the timeout on a stalled client are aiohttp-sse's.
One core-NATS subscription per gateway process feeds an in-process hub; each open stream
gets a bounded queue of its own tenant's events. A slow browser loses its oldest events
rather than growing the gateway's memory; it can always re-read the image list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from gateway.keys import TENANT_KEY
from pipeline.domain.messages import Event

KEEPALIVE_SECONDS = 15.0
QUEUE_SIZE = 256


class EventHub:
    """Fans bus events out to the open streams of the event's tenant."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)
        self.closing = asyncio.Event()

    async def publish(self, event: Event) -> None:
        for queue in list(self._queues.get(event.tenant, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self, tenant: str) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues[tenant].add(queue)
        try:
            yield queue
        finally:
            self._queues[tenant].discard(queue)
            if not self._queues[tenant]:
                del self._queues[tenant]


EVENT_HUB = web.AppKey("event_hub", EventHub)


async def stream_events(request: web.Request) -> web.StreamResponse:
    hub = request.app[EVENT_HUB]
    # sep="\n": the same framing as before the library, which the browser page parses.
    async with sse_response(request, sep="\n", ping_interval=KEEPALIVE_SECONDS) as sse:
        # A comment at once: the client sees the stream open before the first event.
        await sse.write(b": connected\n\n")
        with hub.subscribe(request[TENANT_KEY]) as queue, _ending(hub.closing, sse) as ended:
            while (event := await _next_event(queue, ended)) is not None:
                await sse.send(event.model_dump_json(), event=event.type)
    return sse


@contextlib.contextmanager
def _ending(closing: asyncio.Event, sse: EventSourceResponse) -> Iterator[asyncio.Future[Any]]:
    """One future for the whole stream: done once the gateway closes or the client has gone
    (the library's keepalive ping ends when a write fails). Made once, never cancelled
    mid-stream: cancelling a wait on the ping task would cancel the pings themselves."""
    waits: list[asyncio.Future[Any]] = [
        asyncio.ensure_future(closing.wait()),
        asyncio.ensure_future(sse.wait()),
    ]
    ended: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    )
    try:
        yield ended
    finally:
        for task in (*waits, ended):
            task.cancel()


async def _next_event(queue: asyncio.Queue[Event], ended: asyncio.Future[Any]) -> Event | None:
    """The next event for this stream, or None once it has ``ended``."""
    getter: asyncio.Future[Event] = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    return None
