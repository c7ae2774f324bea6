"""Live events per tenant, with replay: what ``GET /v1/events`` streams.

One follower of the events stream per process calls :meth:`EventFeed.publish` with each
event and its stream sequence; every open stream has a bounded queue of its own tenant's
events. A client that sends the id of the last event it saw (SSE ``Last-Event-ID``) first
gets what it missed from the :class:`EventLog` (the JetStream stream), then the live queue.

No gap, no duplicate at the switch: the queue is subscribed *before* the replay starts, so
an event published meanwhile is either replayed or queued (or both); events are sent in
sequence order and a queued event at or below the last sequence sent is dropped.

A client whose id is ahead of the log (kept from before the stream was recreated: a restore,
a new cluster, a wiped data folder) would otherwise wait in silence for sequences the new
stream reaches only much later: it gets a :class:`StreamReset` carrying the log's last
sequence (it must reload what it shows), then the live events after it.

A client that falls ``queue_size`` events behind is not fed a stream with holes: the queue
stops filling and the stream raises :class:`SlowConsumer`, so the client can resume by id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from dataclasses import dataclass, field

from pipeline.domain.access import Principal
from pipeline.domain.errors import SlowConsumer
from pipeline.domain.messages import StreamedEvent, StreamReset
from pipeline.services.access import AccessPolicy
from pipeline.services.ports import EventLog


@dataclass(eq=False)
class _Subscriber:
    """One open stream's bounded queue; ``wakeup`` is set on every change."""

    size: int
    queue: deque[StreamedEvent] = field(default_factory=deque)
    overflowed: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, item: StreamedEvent) -> None:
        if self.overflowed:
            return
        if len(self.queue) >= self.size:
            self.overflowed = True  # the stream ends now, not after it drains what is queued
        else:
            self.queue.append(item)
        self.wakeup.set()


class EventFeed:
    """Fans the process's events out to open streams; ``close`` ends them all."""

    def __init__(
        self, log: EventLog, *, queue_size: int, policy: AccessPolicy | None = None
    ) -> None:
        self._log = log
        self._policy = policy or AccessPolicy()
        self._queue_size = queue_size
        self._subscribers: dict[str, set[_Subscriber]] = defaultdict(set)
        self._closing = asyncio.Event()

    async def publish(self, item: StreamedEvent) -> None:
        """Hand one event to every open stream of its tenant; never blocks."""
        for subscriber in list(self._subscribers.get(item.event.tenant, ())):
            subscriber.offer(item)

    def close(self) -> None:
        self._closing.set()

    @contextlib.asynccontextmanager
    async def open(
        self, who: Principal, after: int | None = None
    ) -> AsyncIterator[AsyncGenerator[StreamedEvent | StreamReset, None]]:
        """Subscribe the stream of ``who``'s tenant now (every event published from here on
        is in it; Forbidden without the ``read`` scope) and give its events in sequence
        order: those after ``after`` first (when given), then live ones, until
        :meth:`close`; a :class:`StreamReset` first when ``after`` is beyond the log's last
        sequence. Iterating raises :class:`SlowConsumer` when the client fell ``queue_size``
        events behind, and the log's errors (BusError) from the replay."""
        tenant = self._policy.tenant(who, "read")
        with self._subscribed(tenant) as subscriber:
            events = self._events(subscriber, tenant, after)
            try:
                yield events
            finally:
                await events.aclose()

    async def _events(
        self, subscriber: _Subscriber, tenant: str, after: int | None
    ) -> AsyncGenerator[StreamedEvent | StreamReset, None]:
        last = after or 0
        if after is not None and after > (head := await self._log.last_sequence()):
            # Events queued since subscribing that are at or below ``head`` are dropped: the
            # client reloads after the reset, which shows them.
            last = head
            yield StreamReset(head)
        elif after is not None:
            async for replayed in self._log.replay_events(tenant, after):
                last = replayed.seq
                yield replayed
        while (live := await self._next(subscriber)) is not None:
            if live.seq > last:
                last = live.seq
                yield live

    async def _next(self, subscriber: _Subscriber) -> StreamedEvent | None:
        """The next queued event; None once closing; SlowConsumer once overflowed."""
        while not subscriber.overflowed and not self._closing.is_set():
            if subscriber.queue:
                return subscriber.queue.popleft()
            subscriber.wakeup.clear()
            waits = [asyncio.ensure_future(e.wait()) for e in (subscriber.wakeup, self._closing)]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        if subscriber.overflowed:
            raise SlowConsumer(
                "event client too slow",
                public_message=f"more than {self._queue_size} events behind; "
                "reconnect with Last-Event-ID to resume",
            )
        return None

    @contextlib.contextmanager
    def _subscribed(self, tenant: str) -> Iterator[_Subscriber]:
        subscriber = _Subscriber(self._queue_size)
        self._subscribers[tenant].add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers[tenant].discard(subscriber)
            if not self._subscribers[tenant]:
                del self._subscribers[tenant]
