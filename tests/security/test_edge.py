"""Slow and idle clients at the gateway's edge, over raw sockets, while a normal client is
served: an idle connection, a trickled request head, an idle keep-alive, a trickled or
stalled body, and one address opening more connections than its cap."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from gateway.edge import paced
from pipeline.runtime.settings import EdgeSettings
from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.integration.test_http_hygiene import Gateway, open_gateway
from tests.rawhttp import RawConnection, request
from tests.security.conftest import closed_by_server, connect_from, trickle

pytestmark = pytest.mark.security
#: A real photo's first bytes: the gateway's type sniff accepts it, so the body is read on.
PHOTO_START = png_bytes(640, 480)[:2000]

EDGE = EdgeSettings(
    header_timeout_seconds=0.5,
    keepalive_seconds=0.5,
    body_idle_seconds=0.5,
    min_body_bytes=2000,
    min_body_interval_seconds=0.5,
    max_connections_per_address=4,
)


@pytest.fixture
async def gateway(make_settings: SettingsFactory) -> AsyncIterator[Gateway]:
    async with open_gateway(make_settings(edge=EDGE)) as opened:
        yield opened


async def served(gateway: Gateway, source: str = "127.0.0.1") -> int:
    """A normal client's request on a fresh connection from ``source``: its status."""
    connection = await connect_from(gateway.client.host, gateway.client.port, source)
    try:
        head = {**gateway.auth, "Connection": "close"}
        await connection.send(request("GET", "/v1/images", head))
        return (await connection.response()).status
    finally:
        await connection.close()


async def test_a_connection_that_sends_nothing_is_closed(gateway: Gateway) -> None:
    idle = [await RawConnection.open(gateway.client.host, gateway.client.port) for _ in range(3)]
    assert await served(gateway, "127.0.0.2") == 200
    for connection in idle:
        assert await closed_by_server(connection) == b"", "closed without an answer"


async def test_a_trickled_request_head_is_cut_off(gateway: Gateway) -> None:
    head = request("GET", "/v1/images", {**gateway.auth, "X-Padding": "p" * 200})
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    sender = asyncio.create_task(trickle(connection, head, every=0.02))
    assert await served(gateway, "127.0.0.2") == 200
    sent = await sender
    assert sent < len(head), "the server hung up before the head was whole"
    assert await closed_by_server(connection) == b""


async def test_an_idle_keep_alive_connection_is_closed(gateway: Gateway) -> None:
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    await connection.send(request("GET", "/v1/images", gateway.auth))
    assert (await connection.response()).status == 200
    assert await closed_by_server(connection) == b"", "closed after the keep-alive"


async def test_a_trickled_body_gets_408(gateway: Gateway) -> None:
    head = {**gateway.auth, "Content-Type": "image/png"}
    full = request("POST", "/v1/images", head, PHOTO_START + b"\0" * 50_000)
    body_at = full.index(b"\r\n\r\n") + 4
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    await connection.send(full[:body_at])
    sender = asyncio.create_task(trickle(connection, full[body_at:], every=0.05))
    try:
        response = await connection.response()
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await connection.close()
    assert response.status == 408, response
    assert response.json()["error"]["code"] == "upload_timeout"
    assert await served(gateway) == 200


async def test_a_stalled_body_gets_408(gateway: Gateway) -> None:
    head = {**gateway.auth, "Content-Type": "image/png"}
    full = request("POST", "/v1/images", head, PHOTO_START + b"\0" * 50_000)
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    await connection.send(full[: full.index(b"\r\n\r\n") + 4 + 3000])
    response = await connection.response()
    await connection.close()
    assert response.status == 408, response
    assert "no body bytes" in response.json()["error"]["message"]


async def test_one_address_gets_its_connection_cap(make_settings: SettingsFactory) -> None:
    # A head deadline longer than the test: the cap, not the deadline, is what is tried.
    edge = EDGE.model_copy(update={"header_timeout_seconds": 60.0, "keepalive_seconds": 60.0})
    async with open_gateway(make_settings(edge=edge)) as gateway:
        host, port = gateway.client.host, gateway.client.port
        held = [await connect_from(host, port) for _ in range(edge.max_connections_per_address)]
        over = await connect_from(host, port)
        refused = await over.response()
        assert refused.status == 503, refused
        assert refused.json()["error"]["code"] == "busy"
        assert await closed_by_server(over) == b""
        assert await served(gateway, "127.0.0.2") == 200, "another address is served"
        await held.pop().close()
        status = 0
        for _ in range(100):  # the server sees the close a moment later
            try:
                status = await served(gateway)
            except (ConnectionError, asyncio.IncompleteReadError):
                status = 0
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200, "a freed place is given again"
        for connection in held:
            await connection.close()


async def test_our_own_slowness_is_not_counted_against_the_client() -> None:
    """A slow object store between chunks (here 0.3 s per chunk, over the 0.5 s interval in
    total) does not make a client whose bytes are always there look slow."""

    async def ready_bytes() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 100  # 100 bytes, always at once: the client is not waited on

    received = 0
    async for chunk in paced(ready_bytes(), EDGE):
        received += len(chunk)
        await asyncio.sleep(0.3)  # our work: the store is slow
    assert received == 400
