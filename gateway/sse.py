"""``GET /v1/events``: live image events (uploaded, ready, failed, deleted) as SSE.

One core-NATS subscription per gateway process feeds an in-process hub; each open stream
gets a bounded queue of its own tenant's events. A slow browser loses its oldest events
rather than growing the gateway's memory; it can always re-read the image list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator

from aiohttp import web

from gateway.keys import TENANT_KEY
from pipeline.domain.messages import ImageEvent

KEEPALIVE_SECONDS = 15.0
QUEUE_SIZE = 256


class EventHub:
    """Fans bus events out to the open streams of the event's tenant."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[ImageEvent]]] = defaultdict(set)
        self.closing = asyncio.Event()

    async def publish(self, event: ImageEvent) -> None:
        for queue in list(self._queues.get(event.tenant, ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @contextlib.contextmanager
    def subscribe(self, tenant: str) -> Iterator[asyncio.Queue[ImageEvent]]:
        queue: asyncio.Queue[ImageEvent] = asyncio.Queue(QUEUE_SIZE)
        self._queues[tenant].add(queue)
        try:
            yield queue
        finally:
            self._queues[tenant].discard(queue)
            if not self._queues[tenant]:
                del self._queues[tenant]


EVENT_HUB = web.AppKey("event_hub", EventHub)


def sse_frame(event: ImageEvent) -> bytes:
    return f"event: {event.type}\ndata: {event.model_dump_json()}\n\n".encode()


async def stream_events(request: web.Request) -> web.StreamResponse:
    hub = request.app[EVENT_HUB]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            # Reverse proxies must pass events through at once, not buffer them.
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b": connected\n\n")
    with hub.subscribe(request[TENANT_KEY]) as queue:
        while not hub.closing.is_set():
            getter = asyncio.ensure_future(queue.get())
            closing = asyncio.ensure_future(hub.closing.wait())
            done, pending = await asyncio.wait(
                {getter, closing}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            if getter in done:
                await response.write(sse_frame(getter.result()))
            elif not done:
                await response.write(b": keepalive\n\n")
    return response
