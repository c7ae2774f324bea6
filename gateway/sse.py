"""``GET /v1/events``: the tenant's live events as Server-Sent Events, resumable by id.

Framing follows https://html.spec.whatwg.org/multipage/server-sent-events.html: every
event carries ``id:`` (its sequence in the events stream), ``event:`` (its type) and
``data:`` (its JSON). A client that reconnects with ``Last-Event-ID`` gets what it missed
first (:class:`~pipeline.services.events.EventFeed`); one whose id the stream never reached
(it was recreated since) gets ``event: reset`` carrying the stream's last id, to reload and
resume from. A client too far behind gets a last ``event: error`` naming the reason, and the
stream ends. A client that hangs up is the normal end of a stream, not an error. Framing,
keepalive pings and the timeout on a stalled client are aiohttp-sse's.
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
from pipeline.domain.errors import PipelineError
from pipeline.domain.messages import StreamedEvent, StreamReset
from pipeline.domain.numbers import UINT64_MAX, parse_number

KEEPALIVE_SECONDS = 15.0


def last_event_id(request: web.Request) -> int | None:
    """The sequence a reconnecting client saw last; InputError (400) if it cannot be one
    (not ASCII digits, or above 2^64 - 1, the largest stream sequence)."""
    raw = request.headers.get("Last-Event-ID", "").strip()
    if not raw:
        return None
    return parse_number(raw, "Last-Event-ID", maximum=UINT64_MAX)


async def stream_events(request: web.Request) -> web.StreamResponse:
    after = last_event_id(request)  # checked before the stream opens, so it can answer 400
    feed = request.app[EVENTS]
    # Subscribed before the stream opens: every event after ": connected" reaches the client.
    # sep="\n": the same framing as before the library, which the browser page parses.
    async with (
        feed.open(request[TENANT_KEY], after) as events,
        sse_response(request, sep="\n", ping_interval=KEEPALIVE_SECONDS) as sse,
    ):
        # A client that hangs up between keepalives is noticed at the next write: that is how
        # an event stream normally ends, so it is neither logged as an error nor a 500.
        with contextlib.suppress(ConnectionResetError):
            await sse.write(b": connected\n\n")
            try:
                await _send_events(sse, events)
            except PipelineError as exc:  # too slow, or the replay could not read the stream
                body = json.dumps({"code": exc.code, "message": exc.public_message})
                await sse.send(body, event="error")
    return sse


async def _send_events(
    sse: EventSourceResponse, events: AsyncIterator[StreamedEvent | StreamReset]
) -> None:
    with _ending(sse) as ended:
        while (item := await _next_event(events, ended)) is not None:
            if isinstance(item, StreamReset):
                await sse.send(_reset_body(item), id=str(item.seq), event="reset")
            else:
                body = item.event.model_dump_json()
                await sse.send(body, id=str(item.seq), event=item.event.type)


def _reset_body(reset: StreamReset) -> str:
    return json.dumps(
        {
            "type": "reset",
            "last_id": str(reset.seq),
            "message": "Last-Event-ID is ahead of the events stream (it was recreated): "
            "reload, then follow the events after this one",
        }
    )


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
    events: AsyncIterator[StreamedEvent | StreamReset], ended: asyncio.Future[Any]
) -> StreamedEvent | StreamReset | None:
    """The next event for this stream, or None once it or the client has ``ended``."""
    getter: asyncio.Future[StreamedEvent | StreamReset] = asyncio.ensure_future(anext(events))
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
