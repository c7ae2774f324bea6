"""One tenant at its limits never causes another tenant's 503: upload slots and tus PATCHes
per key and per tenant, event streams per key and per tenant, and a revoked key's stream."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest

from gateway.appkeys import BACKENDS, UPLOAD_SHARE
from pipeline.domain.keys import hash_api_key, key_id_of
from pipeline.runtime.settings import EdgeSettings, FairShareSettings, GatewaySettings
from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.integration.test_http_hygiene import Gateway, open_gateway
from tests.rawhttp import RawConnection, request
from tests.sse import SseReader
from tests.waiting import eventually

pytestmark = pytest.mark.security
TUS = {"Tus-Resumable": "1.0.0"}
# Holding uploads open is the attack here: the body pace limits must not end them first.
PATIENT = EdgeSettings(body_idle_seconds=120.0, min_body_bytes=0)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def hold_upload(gateway: Gateway, key: str) -> RawConnection:
    """An upload that sends its head and a first piece of the body, then waits."""
    photo = png_bytes(320, 240)
    head = {**auth(key), "Content-Type": "image/png"}
    full = request("POST", "/v1/images", head, photo + b"\0" * 100_000)
    connection = await RawConnection.open(gateway.client.host, gateway.client.port)
    await connection.send(full[: full.index(b"\r\n\r\n") + 4 + len(photo) // 2])
    return connection


async def upload(gateway: Gateway, key: str, seed: int = 0) -> tuple[int, str]:
    response = await gateway.client.post(
        "/v1/images",
        data=png_bytes(48, 32, seed=seed),
        headers={**auth(key), "Content-Type": "image/png"},
    )
    return response.status, (await response.json()).get("error", {}).get("code", "")


async def tus_patch(gateway: Gateway, key: str) -> int:
    """Create a resumable upload and PATCH all of it: the PATCH's status."""
    photo = png_bytes(40, 30, seed=7)
    meta = "filename " + base64.b64encode(b"t.png").decode()
    created = await gateway.client.post(
        "/v1/uploads",
        headers={**auth(key), **TUS, "Upload-Length": str(len(photo)), "Upload-Metadata": meta},
    )
    assert created.status == 201, await created.text()
    patched = await gateway.client.patch(
        created.headers["Location"],
        data=photo,
        headers={
            **auth(key),
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    return patched.status


@pytest.fixture
async def shared(make_settings: SettingsFactory) -> AsyncIterator[Gateway]:
    settings = make_settings(
        gateway=GatewaySettings(max_concurrent_uploads=3),
        fair=FairShareSettings(uploads_per_tenant=2, uploads_per_key=2),
        edge=PATIENT,
    )
    async with open_gateway(settings) as opened:
        yield opened


async def test_a_tenant_at_its_upload_share_leaves_room_for_another(shared: Gateway) -> None:
    share = shared.client.app[UPLOAD_SHARE]
    bob = await shared.client.app[BACKENDS].catalog.create_api_key("bob")
    held = [await hold_upload(shared, shared.key) for _ in range(2)]

    async def alice_holds_two() -> bool:
        return share.held("alice") == 2

    await eventually(alice_holds_two, "alice's two trickled uploads hold their slots")
    assert await upload(shared, shared.key) == (429, "share_exhausted")
    assert await tus_patch(shared, shared.key) == 429
    assert (await upload(shared, bob))[0] == 202, "bob is not refused for alice's load"
    assert await tus_patch(shared, bob) == 204
    for connection in held:
        await connection.close()


async def test_a_key_at_its_share_leaves_room_for_the_tenants_other_keys(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        fair=FairShareSettings(uploads_per_tenant=4, uploads_per_key=1), edge=PATIENT
    )
    async with open_gateway(settings) as gateway:
        share = gateway.client.app[UPLOAD_SHARE]
        second = await gateway.client.app[BACKENDS].catalog.create_api_key("alice")
        held = await hold_upload(gateway, gateway.key)

        async def holding() -> bool:
            return share.held("alice") == 1

        await eventually(holding, "the trickled upload holds its slot")
        status, code = await upload(gateway, gateway.key)
        assert (status, code) == (429, "share_exhausted")
        assert (await upload(gateway, second))[0] == 202
        await held.close()


async def open_stream(gateway: Gateway, key: str) -> tuple[int, SseReader | None]:
    response = await gateway.client.get("/v1/events", headers=auth(key))
    if response.status != 200:
        await response.release()
        return response.status, None
    return 200, SseReader(response)


async def test_event_streams_are_capped_per_key_and_per_tenant(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(
        fair=FairShareSettings(event_streams=4, event_streams_per_tenant=2, event_streams_per_key=1)
    )
    async with open_gateway(settings) as gateway:
        catalog = gateway.client.app[BACKENDS].catalog
        alice2, alice3 = [await catalog.create_api_key("alice") for _ in range(2)]
        bob = await catalog.create_api_key("bob")
        readers = []
        status, reader = await open_stream(gateway, gateway.key)
        readers.append(reader)
        assert status == 200
        assert (await open_stream(gateway, gateway.key))[0] == 429, "one stream per key"
        status, reader = await open_stream(gateway, alice2)
        readers.append(reader)
        assert status == 200
        assert (await open_stream(gateway, alice3))[0] == 429, "two streams per tenant"
        status, reader = await open_stream(gateway, bob)
        readers.append(reader)
        assert status == 200, "bob is not refused for alice's streams"
        for opened in readers:
            assert opened is not None
            opened.close()


async def test_a_revoked_keys_open_stream_closes(make_settings: SettingsFactory) -> None:
    """Revoked in the catalog alone (as if the bus announcement were lost): the stream ends
    once the key's cache entry does."""
    settings = make_settings(gateway=GatewaySettings(key_cache_seconds=1.0))
    async with open_gateway(settings) as gateway:
        status, reader = await open_stream(gateway, gateway.key)
        assert status == 200
        assert reader is not None
        key_id = key_id_of(hash_api_key(gateway.key))
        await gateway.client.app[BACKENDS].catalog.keys.revoke_key(key_id)
        last = await reader.until("error", timeout=30.0)
        assert last.data["code"] == "unauthorized"
        with pytest.raises(EOFError):
            await reader.next(timeout=30.0)
        reader.close()
        response = await gateway.client.get("/v1/images", headers=auth(gateway.key))
        assert response.status == 401
