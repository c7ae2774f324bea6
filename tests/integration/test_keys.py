"""API keys through the gateway on real servers: the admin routes, revocation, the cache."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from gateway.appkeys import BACKENDS
from pipeline.runtime.settings import GatewaySettings
from tests.conftest import SettingsFactory
from tests.integration.test_gateway import auth, gateway_client

pytestmark = pytest.mark.integration
ADMIN = "admin-secret-for-tests"


async def status_of(client: TestClient, key: str) -> int:
    return (await client.get("/v1/images", headers=auth(key))).status


async def until_refused(client: TestClient, key: str, within: float) -> None:
    async with asyncio.timeout(within):
        while True:  # polls another component's state: there is no event to wait on
            if await status_of(client, key) == 401:
                return
            await asyncio.sleep(0.05)


async def test_admin_routes_create_list_and_revoke_keys(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        gateway=GatewaySettings(admin_key=ADMIN, key_cache_seconds=300, admin_listener="public")
    )
    async with gateway_client(settings) as (client, alice):
        created = await client.post(
            "/v1/admin/keys", json={"tenant": "carol", "name": "phone"}, headers=auth(ADMIN)
        )
        body = await created.json()
        assert created.status == 201, body
        carol, key_id = body["key"], body["id"]
        assert await status_of(client, carol) == 200
        listed = await (await client.get("/v1/admin/keys?tenant=carol", headers=auth(ADMIN))).json()
        assert [(k["id"], k["name"], k["revoked_at"]) for k in listed["items"]] == [
            (key_id, "phone", None)
        ]
        everything = await (await client.get("/v1/admin/keys", headers=auth(ADMIN))).text()
        assert carol not in everything, "a listing never shows a key"
        assert alice not in everything
        revoked = await client.delete(f"/v1/admin/keys/{key_id}", headers=auth(ADMIN))
        assert revoked.status == 204
        # Cached for 300 s, yet refused at once: the revocation reached this gateway's cache.
        await until_refused(client, carol, within=5)
        assert await status_of(client, alice) == 200
        missing = await client.delete("/v1/admin/keys/0123456789abcdef", headers=auth(ADMIN))
        assert missing.status == 404


async def test_admin_routes_need_the_admin_key(make_settings: SettingsFactory) -> None:
    for admin_key, tried in [("", ""), ("", "anything"), (ADMIN, "wrong")]:
        settings = make_settings(
            gateway=GatewaySettings(admin_key=admin_key, admin_listener="public")
        )
        async with gateway_client(settings) as (client, alice):
            for key in {tried, alice} - {""}:
                response = await client.get("/v1/admin/keys", headers=auth(key))
                assert response.status == 401, (admin_key, key)
            assert (await client.get("/v1/admin/keys")).status == 401


async def test_a_revocation_the_bus_missed_ends_with_the_cache(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(gateway=GatewaySettings(key_cache_seconds=1.0))
    async with gateway_client(settings) as (client, alice):
        assert await status_of(client, alice) == 200  # now cached
        catalog = client.app[BACKENDS].catalog
        (info,) = await catalog.keys.list_keys("alice")
        await catalog.keys.revoke_key(info.id)  # stored, but never announced
        await until_refused(client, alice, within=10)


async def test_a_read_only_key_is_refused_every_write(make_settings: SettingsFactory) -> None:
    """Scopes are listed with the key; a key with only ``read`` reads and gets 403 naming
    the missing scope on each write, and nothing changes."""
    settings = make_settings(gateway=GatewaySettings(admin_key=ADMIN, admin_listener="public"))
    async with gateway_client(settings) as (client, alice):
        created = await client.post(
            "/v1/admin/keys",
            json={"tenant": "alice", "name": "viewer", "scopes": ["read"]},
            headers=auth(ADMIN),
        )
        body = await created.json()
        assert (created.status, body["scopes"]) == (201, ["read"])
        listed = await (await client.get("/v1/admin/keys?tenant=alice", headers=auth(ADMIN))).json()
        assert [k["scopes"] for k in listed["items"]] == [
            ["read", "upload", "delete", "share"],
            ["read"],
        ]
        album = await (
            await client.post("/v1/albums", json={"name": "A"}, headers=auth(alice))
        ).json()
        viewer = auth(body["key"])
        assert (await client.get("/v1/images", headers=viewer)).status == 200
        assert (await client.get(f"/v1/albums/{album['id']}", headers=viewer)).status == 200
        writes = [
            ("POST", "/v1/images", {"data": b"\xff\xd8\xff"}),
            ("POST", "/v1/albums", {"json": {"name": "B"}}),
            ("PATCH", f"/v1/albums/{album['id']}", {"json": {"name": "C"}}),
            ("DELETE", f"/v1/albums/{album['id']}", {}),
            ("PUT", f"/v1/albums/{album['id']}/images/x", {}),
            ("DELETE", f"/v1/albums/{album['id']}/images/x", {}),
            ("DELETE", "/v1/images/x", {}),
        ]
        for method, path, kwargs in writes:
            response = await client.request(method, path, headers=viewer, **kwargs)
            answer = await response.json()
            assert (response.status, answer["error"]["code"]) == (403, "forbidden"), (method, path)
        tus = await client.post(
            "/v1/uploads",
            headers={**viewer, "Tus-Resumable": "1.0.0", "Upload-Length": "10"},
        )
        assert tus.status == 403
        bad = await client.post(
            "/v1/admin/keys", json={"tenant": "alice", "scopes": ["root"]}, headers=auth(ADMIN)
        )
        assert bad.status == 400
        assert "scopes" in (await bad.json())["error"]["message"]
        assert (await client.get(f"/v1/albums/{album['id']}", headers=auth(alice))).status == 200
