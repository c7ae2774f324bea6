"""Limits at the gateway's edge, before a request reaches the app: slow and idle clients.

- **Header-read deadline**: a request head must arrive whole within
  ``GALLERY_EDGE_HEADER_TIMEOUT_SECONDS`` of the connection's start (or of the first byte
  of a next request on a kept-alive connection); a client trickling headers is cut off.
- **Keep-alive**: an idle connection between requests closes after
  ``GALLERY_EDGE_KEEPALIVE_SECONDS`` (aiohttp's own ``keepalive_timeout``, default 3630 s).
- **Connections per address**: one client address holds at most
  ``GALLERY_EDGE_MAX_CONNECTIONS_PER_ADDRESS`` connections; a further one gets a 503 and is
  closed at once.
- **Body pace** (:func:`paced`): the next bytes of a body within
  ``GALLERY_EDGE_BODY_IDLE_SECONDS``, and at least ``GALLERY_EDGE_MIN_BODY_BYTES`` every
  ``GALLERY_EDGE_MIN_BODY_INTERVAL_SECONDS``; else 408.

Many addresses at once (a botnet) are beyond one process: the edge proxy or load balancer
limits those (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

from pipeline.domain.errors import GatewayBusy, UploadTimedOut
from pipeline.runtime import metrics
from pipeline.runtime.settings import EdgeSettings


class AddressCounts:
    """Open connections per client address, capped at ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        """Count one more connection of ``address``; False (nothing counted) at the cap."""
        if self._open[address] >= self.limit:
            return False
        self._open[address] += 1
        return True

    def release(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]


class EdgeGuard:
    """What every connection of one gateway listener shares: settings and address counts."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.addresses = AddressCounts(settings.max_connections_per_address)


def busy_response() -> bytes:
    """The raw 503 a connection over its address's cap gets before it is closed."""
    body = json.dumps(
        {
            "error": {
                "code": GatewayBusy.code,
                "message": "too many connections from your address; retry shortly",
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def paced(
    chunks: AsyncIterator[bytes],
    settings: EdgeSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[bytes]:
    """``chunks`` as they come, or UploadTimedOut (408) when the body idles or trickles.

    Each chunk must arrive within ``body_idle_seconds``; for every ``min_body_interval_seconds``
    spent waiting on the client, at least ``min_body_bytes`` must have arrived. Only the time
    spent waiting for the client's bytes counts, not our own work between chunks (a slow
    object store must not make a fast client look slow).
    """
    waited, window_bytes = 0.0, 0
    iterator = aiter(chunks)
    while True:
        started = clock()
        try:
            async with asyncio.timeout(settings.body_idle_seconds):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            metrics.EDGE_CLOSED.labels(reason="body_idle").inc()
            raise UploadTimedOut(
                "body idle",
                public_message=f"no body bytes for {settings.body_idle_seconds:g} s",
            ) from exc
        waited += clock() - started
        window_bytes += len(chunk)
        if waited >= settings.min_body_interval_seconds:
            if window_bytes < settings.min_body_bytes:
                metrics.EDGE_CLOSED.labels(reason="body_slow").inc()
                raise UploadTimedOut(
                    f"body at {window_bytes} bytes in {waited:.1f} s",
                    public_message=f"the body arrives slower than {settings.min_body_bytes} "
                    f"bytes per {settings.min_body_interval_seconds:g} s",
                )
            waited, window_bytes = 0.0, 0
        yield chunk
