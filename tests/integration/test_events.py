"""``GET /v1/events`` on real NATS: ids, replay with Last-Event-ID, slow clients, tenants."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from gateway.appkeys import BACKENDS
from pipeline.domain.messages import AlbumEvent
from pipeline.runtime.settings import GatewaySettings
from tests.conftest import SettingsFactory
from tests.integration.test_gateway import auth, gateway_client
from tests.sse import Frame, SseReader

pytestmark = pytest.mark.integration


async def connect(client: TestClient, key: str, last_id: str | None = None) -> SseReader:
    headers = auth(key) | ({"Last-Event-ID": last_id} if last_id else {})
    response = await client.get("/v1/events", headers=headers)
    assert response.status == 200, await response.text()
    reader = SseReader(response)
    await asyncio.sleep(0)
    return reader


async def new_album(client: TestClient, key: str, name: str) -> str:
    response = await client.post("/v1/albums", json={"name": name}, headers=auth(key))
    assert response.status == 201
    return str((await response.json())["id"])


async def frames(reader: SseReader, count: int) -> list[Frame]:
    return [await reader.next() for _ in range(count)]


async def test_a_reconnect_replays_what_was_missed_then_goes_live_without_gaps(
    make_settings: SettingsFactory,
) -> None:
    async with gateway_client(make_settings()) as (client, alice):
        bob = await client.app[BACKENDS].catalog.create_api_key("bob")
        first = await connect(client, alice)
        albums = [await new_album(client, alice, f"seen {n}") for n in range(3)]
        seen = await frames(first, 3)
        assert [f.data["album_id"] for f in seen] == albums
        assert all(f.id and f.id.isdigit() for f in seen)
        first.close()
        # While Alice is away: her changes (which she must get) and Bob's (which she must not).
        missed = [await new_album(client, alice, f"missed {n}") for n in range(3)]
        await new_album(client, bob, "bob's")
        resumed = await connect(client, alice, last_id=seen[0].id)
        # Live changes while the replay runs: each must arrive once, after the missed ones.
        live = asyncio.gather(*(new_album(client, alice, f"live {n}") for n in range(5)))
        got = await frames(resumed, 2 + 3 + 5)
        live_ids = await live
        assert [f.data["album_id"] for f in got[:5]] == albums[1:] + missed
        assert sorted(f.data["album_id"] for f in got[5:]) == sorted(live_ids)
        ids = [int(f.id or 0) for f in got]
        assert ids == sorted(set(ids)), "strictly increasing: no duplicate, in stream order"
        assert {f.data["tenant"] for f in got} == {"alice"}
        # Nothing else was queued: the next frame is the next change.
        last = await new_album(client, alice, "after")
        assert (await resumed.next()).data["album_id"] == last
        resumed.close()


async def test_a_slow_client_is_told_why_and_resumes_without_loss(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(gateway=GatewaySettings(event_queue_size=2))
    async with gateway_client(settings) as (client, alice):
        reader = await connect(client, alice)
        first_album = await new_album(client, alice, "first")
        seen = [await reader.next()]
        assert seen[0].data["album_id"] == first_album
        bus = client.app[BACKENDS].bus
        burst = [
            AlbumEvent(album_id=f"a{n:03}", tenant="alice", action="created") for n in range(200)
        ]
        # Far more at once than the stream may hold (2): it ends with a reason, not with holes.
        await asyncio.gather(*(bus.publish_event(event) for event in burst))
        while (frame := await reader.next()).event != "error":
            seen.append(frame)
        assert frame.data["code"] == "slow_consumer"
        assert "Last-Event-ID" in frame.data["message"]
        with pytest.raises(EOFError):
            await reader.next()
        resumed = await connect(client, alice, last_id=seen[-1].id)
        while len(seen) < 1 + len(burst):
            seen.append(await resumed.next())
        albums = [f.data["album_id"] for f in seen[1:]]
        assert sorted(albums) == sorted(e.album_id for e in burst), "every event exactly once"
        resumed.close()


async def test_a_last_event_id_that_is_not_ours_is_a_400(make_settings: SettingsFactory) -> None:
    async with gateway_client(make_settings()) as (client, alice):
        response = await client.get(
            "/v1/events", headers=auth(alice) | {"Last-Event-ID": "yesterday"}
        )
        assert response.status == 400
        assert "Last-Event-ID" in (await response.json())["error"]["message"]
