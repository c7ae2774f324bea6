"""``GET /v1/events``: the tenant's live events as Server-Sent Events, resumable by id.

Framing follows https://html.spec.whatwg.org/multipage/server-sent-events.html: every
event carries ``id:`` (its sequence in the events stream), ``event:`` (its type) and
``data:`` (its JSON). A client that reconnects with ``Last-Event-ID`` gets what it missed
first (:class:`~pipeline.services.events.EventFeed`). A client too far behind gets a last
``event: error`` naming the reason, and the stream ends. Framing, keepalive pings and the
timeout on a stalled client are aiohttp-sse's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from gateway.appkeys import EVENTS, TENANT_KEY
from pipeline.domain.errors import InputError, PipelineError
from pipeline.domain.messages import StreamedEvent

KEEPALIVE_SECONDS = 15.0


def last_event_id(request: web.Request) -> int | None:
    """The sequence a reconnecting client saw last; InputError (400) if it is not one of ours."""
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InputError(
            "bad Last-Event-ID", public_message="Last-Event-ID must be an id from this stream"
        )
    return int(raw)


async def stream_events(request: web.Request) -> web.StreamResponse:
    after = last_event_id(request)  # checked before the stream opens, so it can answer 400
    feed = request.app[EVENTS]
    # Subscribed before the stream opens: every event after ": connected" reaches the client.
    # sep="\n": the same framing as before the library, which the browser page parses.
    async with (
        feed.open(request[TENANT_KEY], after) as events,
        sse_response(request, sep="\n", ping_interval=KEEPALIVE_SECONDS) as sse,
    ):
        await sse.write(b": connected\n\n")
        try:
            await _send_events(sse, events)
        except PipelineError as exc:  # too slow, or the replay could not read the stream
            body = json.dumps({"code": exc.code, "message": exc.public_message})
            await sse.send(body, event="error")
    return sse


async def _send_events(sse: EventSourceResponse, events: AsyncIterator[StreamedEvent]) -> None:
    with _ending(sse) as ended:
        while (item := await _next_event(events, ended)) is not None:
            await sse.send(item.event.model_dump_json(), id=str(item.seq), event=item.event.type)


@contextlib.contextmanager
def _ending(sse: EventSourceResponse) -> Iterator[asyncio.Future[Any]]:
    """Done once the client has gone (the library's keepalive ping ends when a write fails).
    Made once, never cancelled mid-stream: cancelling a wait on the ping task would cancel
    the pings themselves."""
    ended: asyncio.Future[Any] = asyncio.ensure_future(sse.wait())
    try:
        yield ended
    finally:
        ended.cancel()


async def _next_event(
    events: AsyncIterator[StreamedEvent], ended: asyncio.Future[Any]
) -> StreamedEvent | None:
    """The next event for this stream, or None once it or the client has ``ended``."""
    getter: asyncio.Future[StreamedEvent] = asyncio.ensure_future(anext(events))
    try:
        done, _ = await asyncio.wait({getter, ended}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the gateway is stopping this handler
        _discard(getter)
        raise
    if getter in done:
        try:
            return getter.result()
        except StopAsyncIteration:  # the feed closed: the gateway is stopping
            return None
    _discard(getter)  # the client has gone: stop the feed where it waits
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await getter
    return None


def _discard(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and mark its outcome seen (asyncio logs an exception nobody read)."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
