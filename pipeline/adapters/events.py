"""The events stream read back: a live follower for the process, and per-tenant replays.

Both use JetStream ordered consumers (ephemeral, flow-controlled, recreated by the client
library from the last sequence seen after a reconnect, so a NATS blip loses nothing). Each
message's stream sequence travels with its event: it is the SSE ``id`` clients resume from.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from pipeline.domain import names
from pipeline.domain.errors import BadMessage, BusError
from pipeline.domain.messages import StreamedEvent, decode_event

log = logging.getLogger(__name__)
# Every subject of the events stream (gallery.image.* and gallery.album.*).
_ALL_EVENTS = "gallery.>"
_REPLAY_READ_SECONDS = 10.0


def _streamed(msg: Msg) -> StreamedEvent | None:
    try:
        return StreamedEvent(msg.metadata.sequence.stream, decode_event(msg.data))
    except BadMessage as exc:
        log.warning("skipping event %s: %s", msg.subject, exc)
        return None


class JetStreamEvents:
    """Reads ``GALLERY_EVENTS``; failures raise :class:`BusError`."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def follow(
        self, callback: Callable[[StreamedEvent], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """Call ``callback`` with every new event, in order; returns the stop function."""

        async def on_msg(msg: Msg) -> None:
            item = _streamed(msg)
            if item is not None:
                await callback(item)

        try:
            sub = await self._js.subscribe(
                _ALL_EVENTS,
                stream=names.EVENTS_STREAM,
                cb=on_msg,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
            )
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"cannot follow {names.EVENTS_STREAM}: {exc}") from exc
        return sub.unsubscribe

    async def last_sequence(self) -> int:
        """The events stream's last sequence (0 while it is empty)."""
        try:
            info = await self._js.stream_info(names.EVENTS_STREAM)
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"cannot read {names.EVENTS_STREAM}: {exc}") from exc
        return int(info.state.last_seq or 0)

    async def replay_events(self, tenant: str, after: int) -> AsyncIterator[StreamedEvent]:
        """``tenant``'s events after sequence ``after``, up to the end of the stream now.

        The consumer filters on the tenant's subjects on the server; the decoded tenant is
        checked again, since the subject token is a hash.
        """
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        )
        try:
            sub = await self._js.subscribe(
                names.tenant_events_filter(tenant),
                stream=names.EVENTS_STREAM,
                ordered_consumer=True,
                config=config,
            )
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"cannot replay {names.EVENTS_STREAM}: {exc}") from exc
        try:
            async for item in self._read_to_end(sub):
                if item.event.tenant == tenant:
                    yield item
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _read_to_end(
        self, sub: JetStreamContext.PushSubscription
    ) -> AsyncIterator[StreamedEvent]:
        """Messages until the consumer has none pending: the end of the stream as it was."""
        try:
            info = await sub.consumer_info()
            # The server may have pushed some already: those count as well as the pending.
            pending = (info.num_pending or 0) + (
                info.delivered.consumer_seq if info.delivered else 0
            )
            while pending:
                msg = await sub.next_msg(timeout=_REPLAY_READ_SECONDS)
                pending = msg.metadata.num_pending
                item = _streamed(msg)
                if item is not None:
                    yield item
        except (nats.errors.Error, OSError) as exc:
            raise BusError(f"replay of {names.EVENTS_STREAM} failed: {exc}") from exc
