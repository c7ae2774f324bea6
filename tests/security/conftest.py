"""Shared pieces of the attack suite: the gateway as ``gallery gateway`` serves it (edge
limits included), raw connections from a chosen loopback address, and trickling senders."""

from __future__ import annotations

import asyncio
import contextlib

from tests.rawhttp import DEADLINE, RawConnection


async def connect_from(host: str, port: int, source: str = "127.0.0.1") -> RawConnection:
    """A raw connection whose client address is ``source`` (any 127.0.0.0/8 address works on
    Linux loopback: a second client address without a second machine)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, local_addr=(source, 0)), DEADLINE
    )
    return RawConnection(reader, writer)


async def trickle(connection: RawConnection, data: bytes, every: float) -> int:
    """Send ``data`` one byte every ``every`` seconds until it is sent or the server hangs
    up; the bytes that were sent."""
    sent = 0
    with contextlib.suppress(ConnectionError):
        for byte in data:
            await connection.send(bytes([byte]))
            sent += 1
            await asyncio.sleep(every)
    return sent


async def closed_by_server(connection: RawConnection) -> bytes:
    """What the server sent until it closed the connection (DEADLINE bounds the wait); the
    connection is closed on this side too."""
    try:
        return await connection.rest()
    except ConnectionError:
        return b""
    finally:
        await connection.close()
