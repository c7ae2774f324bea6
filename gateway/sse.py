"""``GET /v1/events``: the tenant's live events as Server-Sent Events, resumable by id.

Framing follows https://html.spec.whatwg.org/multipage/server-sent-events.html: every
event carries ``id:`` (its sequence in the events stream), ``event:`` (its type) and
``data:`` (its JSON). A client that reconnects with ``Last-Event-ID`` gets what it missed
first (:class:`~pipeline.services.events.EventFeed`). A client too far behind gets a last
``event: error`` naming the reason, and the stream ends. Framing, keepalive pings and the
timeout on a stalled client are aiohttp-sse's.

Each key and tenant holds at most its share of this gateway's streams (:mod:`gateway.shares`).
A stream re-checks its key a few times per ``GALLERY_GATEWAY_KEY_CACHE_SECONDS`` (from the
key cache, so mostly without a catalog read): a revoked or expired key's stream ends within
that bound with a last ``event: error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from gateway.appkeys import EVENTS, KEY_ID, SETTINGS, STREAM_SHARE, TENANT_KEY
from gateway.auth import tenant_of
from pipeline.domain.errors import DependencyError, InputError, PipelineError, Unauthorized
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
        _held(request),
        feed.open(request[TENANT_KEY], after) as events,
        sse_response(request, sep="\n", ping_interval=KEEPALIVE_SECONDS) as sse,
    ):
        await sse.write(b": connected\n\n")
        try:
            await _send_events(sse, events, request)
        except PipelineError as exc:  # too slow, revoked, or the replay could not read
            body = json.dumps({"code": exc.code, "message": exc.public_message})
            await sse.send(body, event="error")
    return sse


@contextlib.asynccontextmanager
async def _held(request: web.Request) -> AsyncIterator[None]:
    """One of the key's and tenant's shares of streams (429/503 before the stream opens)."""
    with request.app[STREAM_SHARE].take(request[TENANT_KEY], request[KEY_ID]):
        yield


async def _send_events(
    sse: EventSourceResponse, events: AsyncIterator[StreamedEvent], request: web.Request
) -> None:
    """Send until the feed ends or the client goes; Unauthorized once the key stops working."""
    watch = asyncio.ensure_future(_key_revoked(request))
    try:
        with _ending(sse, watch) as ended:
            while (item := await _next_event(events, ended)) is not None:
                await sse.send(
                    item.event.model_dump_json(), id=str(item.seq), event=item.event.type
                )
        if watch.done():
            watch.result()  # raises the Unauthorized that ended the stream
    finally:
        _discard(watch)


@contextlib.contextmanager
def _ending(sse: EventSourceResponse, watch: asyncio.Future[None]) -> Iterator[asyncio.Future[Any]]:
    """Done once the client has gone (the library's keepalive ping ends when a write fails)
    or ``watch`` finishes (the key was revoked). Made once, never cancelled mid-stream:
    cancelling a wait on the ping task would cancel the pings themselves."""
    gone: asyncio.Future[Any] = asyncio.ensure_future(sse.wait())
    ended = asyncio.ensure_future(asyncio.wait({gone, watch}, return_when=asyncio.FIRST_COMPLETED))
    try:
        yield ended
    finally:
        ended.cancel()
        gone.cancel()


async def _key_revoked(request: web.Request) -> None:
    """Never returns while the caller's key works; raises Unauthorized once it does not.

    Asks a few times per key-cache lifetime: while the key is cached that is a dictionary
    read; a revocation empties the cache at once (bus) or at the entry's end.
    """
    interval = request.app[SETTINGS].gateway.key_cache_seconds / 4
    while True:
        await asyncio.sleep(interval)
        try:
            await tenant_of(request)
        except DependencyError:
            continue  # a catalog outage is not a revocation: ask again next time
        except Unauthorized as exc:
            raise Unauthorized(
                f"stream closed: {exc}", public_message="the API key was revoked or has expired"
            ) from exc


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
