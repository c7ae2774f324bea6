"""The gateway in-process against real servers: upload forms, limits, paging, health, metrics."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gallery.servers import ManagedProcess
from gateway.app import make_app
from gateway.appkeys import BACKENDS, READINESS, UPLOAD_SHARE
from pipeline.runtime.health import ops_app
from pipeline.runtime.settings import GatewaySettings, LimitsSettings, Settings
from pipeline.services.gate import HELD_BYTES
from tests.conftest import SettingsFactory
from tests.images import jpeg_bytes, jpeg_with_big_header, png_bytes
from tests.waiting import GENEROUS, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(make_settings: SettingsFactory) -> AsyncIterator[tuple[TestClient, str]]:
    async with gateway_client(make_settings()) as opened:
        yield opened


class gateway_client:  # noqa: N801 (used like a function)
    def __init__(self, settings: Settings) -> None:
        self.client = TestClient(TestServer(make_app(settings)))

    async def __aenter__(self) -> tuple[TestClient, str]:
        await self.client.start_server()
        key = await self.client.app[BACKENDS].catalog.create_api_key("alice")
        return self.client, key

    async def __aexit__(self, *_: object) -> None:
        await self.client.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_multipart_upload_takes_the_file_part(gateway: tuple[TestClient, str]) -> None:
    client, key = gateway
    form = aiohttp.FormData()
    form.add_field("title", "ignored text field")
    form.add_field(
        "file", io.BytesIO(png_bytes(64, 48)), filename="cat.png", content_type="image/jpeg"
    )
    response = await client.post("/v1/images", data=form, headers=auth(key))
    body = await response.json()
    assert response.status == 202, body
    # Type from magic bytes, not from the part's claimed Content-Type.
    assert (body["content_type"], body["filename"], body["width"]) == ("image/png", "cat.png", 64)


async def test_multipart_without_a_file_is_a_clear_400(gateway: tuple[TestClient, str]) -> None:
    client, key = gateway
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("title", "no file here")
    response = await client.post("/v1/images", data=form, headers=auth(key))
    assert response.status == 400
    assert "file" in (await response.json())["error"]["message"]


async def test_declared_oversize_is_refused_before_reading(make_settings: SettingsFactory) -> None:
    settings = make_settings(limits=LimitsSettings(max_upload_bytes=100_000))
    async with gateway_client(settings) as (client, key):
        body = jpeg_bytes(1200, 900, seed=5)
        assert len(body) > 100_000
        response = await client.post("/v1/images", data=body, headers=auth(key))
        assert response.status == 413
        listing = await (await client.get("/v1/images", headers=auth(key))).json()
        assert listing["items"] == []


async def test_listing_pages_with_a_cursor(gateway: tuple[TestClient, str]) -> None:
    client, key = gateway
    ids = []
    for seed in range(5):
        response = await client.post(
            "/v1/images", data=png_bytes(32, 32, seed=seed), headers=auth(key)
        )
        ids.append((await response.json())["id"])
    seen: list[str] = []
    cursor = ""
    while True:
        page = await (
            await client.get(f"/v1/images?limit=2&cursor={cursor}", headers=auth(key))
        ).json()
        seen += [item["id"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))
    bad = await client.get("/v1/images?limit=0", headers=auth(key))
    assert bad.status == 400


async def test_rendition_of_a_queued_image_is_a_conflict(gateway: tuple[TestClient, str]) -> None:
    client, key = gateway
    created = await (
        await client.post("/v1/images", data=png_bytes(32, 32), headers=auth(key))
    ).json()
    response = await client.get(f"/v1/images/{created['id']}/renditions/thumb", headers=auth(key))
    assert response.status == 409
    original = await client.get(f"/v1/images/{created['id']}/original", headers=auth(key))
    assert original.status == 200
    assert await original.read() == png_bytes(32, 32)


async def test_health_readiness_and_metrics(gateway: tuple[TestClient, str]) -> None:
    client, key = gateway
    assert (await client.get("/healthz")).status == 200
    await client.post("/v1/images", data=png_bytes(16, 16), headers=auth(key))
    async with TestClient(TestServer(ops_app(client.app[READINESS]))) as ops:
        ready = await ops.get("/readyz")
        assert ready.status == 200, await ready.text()
        text = await (await ops.get("/metrics")).text()
    assert 'gallery_uploads_total{outcome="accepted"}' in text
    assert "gallery_http_requests_total" in text


async def test_readiness_names_the_dependency_that_is_down(
    gateway: tuple[TestClient, str], nats_server: ManagedProcess
) -> None:
    client, _ = gateway
    nats_server.stop()
    async with TestClient(TestServer(ops_app(client.app[READINESS]))) as ops:
        response = await ops.get("/readyz")
        body = await response.json()
    assert response.status == 503
    assert list(body["failures"]) == ["bus"]
    assert (await client.get("/healthz")).status == 200, "liveness does not depend on the bus"


async def next_event(response: aiohttp.ClientResponse) -> dict[str, object]:
    """Read SSE frames until one with data (comments are keepalives)."""
    buffer = b""
    while True:
        buffer += await asyncio.wait_for(response.content.readany(), GENEROUS)
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            for line in frame.decode().splitlines():
                if line.startswith("data: "):
                    return dict(json.loads(line[6:]))


async def test_events_stream_only_the_tenants_own_images(gateway: tuple[TestClient, str]) -> None:
    client, alice_key = gateway
    bob_key = await client.app[BACKENDS].catalog.create_api_key("bob")
    alice_events = await client.get("/v1/events", headers=auth(alice_key))
    bob_events = await client.get("/v1/events", headers=auth(bob_key))
    assert alice_events.headers["Content-Type"] == "text/event-stream"
    first = await (
        await client.post("/v1/images", data=png_bytes(20, 20), headers=auth(alice_key))
    ).json()
    second = await (
        await client.post("/v1/images", data=png_bytes(21, 21), headers=auth(bob_key))
    ).json()
    alice_first = await next_event(alice_events)
    assert (alice_first["type"], alice_first["image_id"]) == ("uploaded", first["id"])
    # Bob's first event is his own upload: Alice's, published before it, never reached him.
    bob_first = await next_event(bob_events)
    assert (bob_first["image_id"], bob_first["tenant"]) == (second["id"], "bob")
    alice_events.close()
    bob_events.close()


async def test_a_stream_carries_every_event_in_order(gateway: tuple[TestClient, str]) -> None:
    client, key = gateway
    events = await client.get("/v1/events", headers=auth(key))
    ids = []
    for side in (30, 31, 32):
        response = await client.post("/v1/images", data=png_bytes(side, side), headers=auth(key))
        ids.append((await response.json())["id"])
    received: list[tuple[str, str]] = []
    buffer = b""
    while len(received) < len(ids):
        buffer += await asyncio.wait_for(events.content.readany(), GENEROUS)
        *frames, buffer = buffer.split(b"\n\n")
        for frame in frames:
            fields = dict(line.split(": ", 1) for line in frame.decode().splitlines())
            if "data" in fields:
                event = json.loads(fields["data"])
                received.append((fields["event"], event["image_id"]))
                assert event["type"] == fields["event"]
    assert received == [("uploaded", i) for i in ids]
    events.close()


async def test_a_header_beyond_the_lookahead_is_found_while_the_body_streams(
    make_settings: SettingsFactory,
) -> None:
    # Metadata before the header never gets a valid photo refused: the scanner reads on
    # past what is held before storing starts (HELD_BYTES) in the same pass.
    photo = jpeg_with_big_header(300, 200, padding=4 * HELD_BYTES)
    async with gateway_client(make_settings()) as (client, key):
        response = await client.post("/v1/images", data=photo, headers=auth(key))
        body = await response.json()
        assert response.status == 202, body
        assert (body["width"], body["height"]) == (300, 200)


async def test_a_trickling_upload_times_out_and_leaves_nothing(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(limits=LimitsSettings(upload_timeout_seconds=1.0))
    stalled = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        yield jpeg_bytes(640, 480)[:2048]
        stalled.set()
        await asyncio.sleep(5)  # a client that stops sending; the gateway must not wait forever
        yield b"\x00" * 1024

    async with gateway_client(settings) as (client, key):
        response = await client.post("/v1/images", data=trickle(), headers=auth(key))
        body = await response.json()
        assert stalled.is_set()
        assert response.status == 408
        assert body["error"]["code"] == "upload_timeout"
        store = client.app[BACKENDS].store
        assert await store.list_keys("originals/") == []
        listing = await (await client.get("/v1/images", headers=auth(key))).json()
        assert listing["items"] == []


async def test_uploads_beyond_the_concurrency_limit_are_told_to_retry(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(gateway=GatewaySettings(max_concurrent_uploads=1))
    holding, release = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield png_bytes(40, 30, seed=1)
        holding.set()
        await release.wait()

    async with gateway_client(settings) as (client, key):
        first = asyncio.create_task(client.post("/v1/images", data=slow_body(), headers=auth(key)))
        await asyncio.wait_for(holding.wait(), GENEROUS)
        share = client.app[UPLOAD_SHARE]

        async def slot_taken() -> bool:
            # The client yielding its first chunk does not mean the gateway has the request:
            # a CI run saw the second upload overtake it and take the only slot.
            return bool(share.in_use == 1)

        await eventually(slot_taken, "the first upload holds the only slot")
        busy = await client.post("/v1/images", data=png_bytes(40, 30, seed=2), headers=auth(key))
        assert busy.status == 503
        assert busy.headers["Retry-After"] == "1"
        assert (await busy.json())["error"]["code"] == "busy"
        release.set()
        assert (await first).status == 202
        after = await client.post("/v1/images", data=png_bytes(40, 30, seed=2), headers=auth(key))
        assert after.status == 202, "the slot is free again"
