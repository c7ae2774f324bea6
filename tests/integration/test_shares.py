"""Share links through the gateway on real servers: the owner makes one, a client without
any key opens it and sees exactly the shared photos, nothing else; revoking refuses it."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from pipeline.runtime.settings import GatewaySettings, ShareSettings
from tests.conftest import SettingsFactory
from tests.integration.test_albums import Tenant
from tests.integration.test_gateway import gateway_client

pytestmark = pytest.mark.integration


async def status(client: TestClient, path: str) -> int:
    return (await client.get(path, allow_redirects=False)).status


async def until_gone(client: TestClient, path: str, within: float) -> None:
    async with asyncio.timeout(within):
        while True:  # polls another component's cache: there is no event to wait on
            if await status(client, path) == 404:
                return
            await asyncio.sleep(0.05)


async def test_a_shared_album_opens_without_a_key_and_shows_only_itself(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(gateway=GatewaySettings(key_cache_seconds=300))
    async with gateway_client(settings) as (client, key):
        alice = Tenant(client, key)
        album, other_album = await alice.album("Family"), await alice.album("Private")
        shared = [await alice.upload(seed) for seed in range(2)]
        hidden, elsewhere = await alice.upload(7), await alice.upload(8)
        for photo in shared:
            await alice.call("PUT", f"/v1/albums/{album}/images/{photo}")
        await alice.call("PUT", f"/v1/albums/{other_album}/images/{elsewhere}")
        await alice.call("PUT", f"/v1/albums/{other_album}/images/{shared[0]}")
        code, made = await alice.call("POST", "/v1/shares", json={"album_id": album})
        assert code == 201, made
        token = made["url"].rsplit("/shared/", 1)[1]
        link = f"/v1/shared/{token}"

        listing = await client.get(f"{link}/images")  # no Authorization header at all
        assert listing.status == 200
        assert listing.headers["Referrer-Policy"] == "no-referrer"
        assert "noindex" in listing.headers["X-Robots-Tag"]
        items = (await listing.json())["items"]
        assert sorted(i["id"] for i in items) == sorted(shared)
        assert all(i["links"]["self"].startswith(f"{link}/images/") for i in items)
        assert all(i["albums"] == [album] for i in items), "the other album stays unnamed"

        for path in (
            f"{link}/images/{hidden}",
            f"{link}/images/{elsewhere}",
            f"{link}/images?album={other_album}",
            f"{link}/images/{hidden}/original",
            f"{link}x/images",
            "/v1/shared/gs_guessed/images",
        ):
            assert await status(client, path) == 404, path
        assert await status(client, f"{link}/images/{shared[0]}/original") == 403
        for path in ("/v1/images", f"/v1/albums/{album}", "/v1/albums", "/v1/shares"):
            assert await status(client, path) == 401, path

        opened = await (await client.get(link)).json()
        assert (opened["album"]["name"], opened["allow_download"]) == ("Family", False)
        page = await client.get(f"/shared/{token}")
        assert page.status == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
        code, listed = await alice.call("GET", "/v1/shares")
        assert [(s["id"], s["uses"]) for s in listed["items"]] == [(made["id"], 1)]
        assert token not in str(listed), "the token is shown once, when made"

        await alice.call("DELETE", f"/v1/albums/{album}/images/{shared[1]}")
        items = (await (await client.get(f"{link}/images")).json())["items"]
        assert [i["id"] for i in items] == [shared[0]]

        assert (await alice.call("DELETE", f"/v1/shares/{made['id']}"))[0] == 204
        # Cached for 300 s, yet refused at once: the revocation reached this gateway's cache.
        await until_gone(client, f"{link}/images", within=5)
        assert await status(client, link) == 404


async def test_share_requests_are_checked(make_settings: SettingsFactory) -> None:
    async with gateway_client(make_settings()) as (client, key):
        alice = Tenant(client, key)
        photo = await alice.upload(1)
        for body in (
            {},
            {"album_id": "x", "image_id": photo},
            {"image_id": photo, "expires_in_seconds": 1},
        ):
            code, answer = await alice.call("POST", "/v1/shares", json=body)
            assert code == 400, (body, answer)
        assert (await alice.call("POST", "/v1/shares", json={"album_id": "nope"}))[0] == 404
        code, made = await alice.call(
            "POST", "/v1/shares", json={"image_id": photo, "allow_download": True}
        )
        assert code == 201, made
        link = "/v1/shared/" + made["url"].rsplit("/shared/", 1)[1]
        original = await client.get(f"{link}/images/{photo}/original")
        assert original.status == 200
        assert original.headers["Referrer-Policy"] == "no-referrer"
        assert (await client.get(f"{link}/images?cursor=1")).status == 200


async def test_a_link_is_rate_limited_per_address(make_settings: SettingsFactory) -> None:
    settings = make_settings(share=ShareSettings(address_requests_per_minute=3))
    async with gateway_client(settings) as (client, key):
        alice = Tenant(client, key)
        code, made = await alice.call(
            "POST", "/v1/shares", json={"album_id": await alice.album("A")}
        )
        assert code == 201, made
        link = "/v1/shared/" + made["url"].rsplit("/shared/", 1)[1]
        assert [await status(client, f"{link}/images") for _ in range(3)] == [200, 200, 200]
        limited = await client.get(f"{link}/images")
        assert limited.status == 429
        assert int(limited.headers["Retry-After"]) >= 1
        assert "per address" in (await limited.json())["error"]["message"]
        assert (await alice.call("GET", "/v1/images"))[0] == 200, "the owner is not limited"
        guess = await client.get("/v1/shared/gs_guessed/images")
        assert guess.status == 429, "guesses from the address are counted before the lookup"
