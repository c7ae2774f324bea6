"""``GET /v1/events``: the tenant's live events as Server-Sent Events, resumable by id.

Framing follows https://html.spec.whatwg.org/multipage/server-sent-events.html: every
event carries ``id:`` (its sequence in the events stream), ``event:`` (its type) and
``data:`` (its JSON). A client that reconnects with ``Last-Event-ID`` gets what it missed
first (:class:`~pipeline.services.events.EventFeed`); one whose id the stream never reached
(it was recreated since) gets ``event: reset`` carrying the stream's last id, to reload and
resume from. A client too far behind gets a last ``event: error`` naming the reason, and the
stream ends. A client that hangs up is the normal end of a stream, not an error. Framing,
keepalive pings and the timeout on a stalled client are aiohttp-sse's.

Each key and tenant holds at most its share of this gateway's streams (:mod:`gateway.fairshare`).
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

from gateway.appkeys import EVENTS, PRINCIPAL, SETTINGS, STREAM_SHARE
from gateway.auth import principal_of
from pipeline.domain.errors import DependencyError, PipelineError, Unauthorized
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
        _held(request),
        feed.open(request[PRINCIPAL], after) as events,
        sse_response(request, sep="\n", ping_interval=KEEPALIVE_SECONDS) as sse,
    ):
        # A client that hangs up between keepalives is noticed at the next write: that is how
        # an event stream normally ends, so it is neither logged as an error nor a 500.
        with contextlib.suppress(ConnectionResetError):
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
    who = request[PRINCIPAL]
    with request.app[STREAM_SHARE].take(who.tenant, who.id):
        yield


async def _send_events(
    sse: EventSourceResponse,
    events: AsyncIterator[StreamedEvent | StreamReset],
    request: web.Request,
) -> None:
    """Send until the feed ends or the client goes; Unauthorized once the key stops working."""
    watch = asyncio.ensure_future(_key_revoked(request))
    try:
        with _ending(sse, watch) as ended:
            while (item := await _next_event(events, ended)) is not None:
                if isinstance(item, StreamReset):
                    await sse.send(_reset_body(item), id=str(item.seq), event="reset")
                else:
                    body = item.event.model_dump_json()
                    await sse.send(body, id=str(item.seq), event=item.event.type)
        if watch.done():
            watch.result()  # raises the Unauthorized that ended the stream
    finally:
        _discard(watch)


async def _key_revoked(request: web.Request) -> None:
    """Never returns while the caller's key works; raises Unauthorized once it does not.

    Asks a few times per key-cache lifetime: while the key is cached that is a dictionary
    read; a revocation empties the cache at once (bus) or at the entry's end.
    """
    interval = request.app[SETTINGS].gateway.key_cache_seconds / 4
    while True:
        await asyncio.sleep(interval)
        try:
            await principal_of(request)
        except DependencyError:
            continue  # a catalog outage is not a revocation: ask again next time
        except Unauthorized as exc:
            raise Unauthorized(
                f"stream closed: {exc}", public_message="the API key was revoked or has expired"
            ) from exc


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
