"""Albums through the gateway on real NATS, MinIO and the MongoDB-wire catalog."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.appkeys import BACKENDS
from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.errors import AlbumExists
from pipeline.domain.models import new_image_id
from pipeline.runtime.settings import SweeperSettings
from pipeline.services.albums import finish_album_deletes
from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.integration.test_gateway import auth, gateway_client
from tests.sse import SseReader

pytestmark = pytest.mark.integration


class Tenant:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client, self.headers = client, auth(key)

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.request(method, path, headers=self.headers, **kwargs)
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body

    async def upload(self, seed: int) -> str:
        status, body = await self.call("POST", "/v1/images", data=png_bytes(24, 24, seed=seed))
        assert status == 202, body
        return str(body["id"])

    async def album(self, name: str) -> str:
        status, body = await self.call("POST", "/v1/albums", json={"name": name})
        assert status == 201, body
        return str(body["id"])

    async def all_pages(self, path: str, limit: int = 2) -> list[str]:
        ids: list[str] = []
        cursor = None
        sep = "&" if "?" in path else "?"
        while True:
            query = f"{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            status, page = await self.call("GET", path + query)
            assert status == 200, page
            ids += [item["id"] for item in page["items"]]
            if not (cursor := page["next_cursor"]):
                return ids


async def test_album_lifecycle_through_the_gateway(make_settings: SettingsFactory) -> None:
    async with gateway_client(make_settings()) as (client, key):
        alice = Tenant(client, key)
        status, created = await alice.call("POST", "/v1/albums", json={"name": "Holiday"})
        assert status == 201
        assert created["name"] == "Holiday"
        assert (created["image_count"], created["cover_image_id"]) == (0, None)
        album = created["id"]
        photos = [await alice.upload(seed) for seed in range(3)]
        for photo in photos:
            assert (await alice.call("PUT", f"/v1/albums/{album}/images/{photo}"))[0] == 204
        assert (await alice.call("PUT", f"/v1/albums/{album}/images/{photos[0]}"))[0] == 204
        status, got = await alice.call("GET", f"/v1/albums/{album}")
        assert (got["image_count"], got["cover_image_id"]) == (3, photos[-1])
        status, renamed = await alice.call("PATCH", f"/v1/albums/{album}", json={"name": "Summer"})
        assert (status, renamed["name"]) == (200, "Summer")
        assert (await alice.call("DELETE", f"/v1/albums/{album}/images/{photos[1]}"))[0] == 204
        assert await alice.all_pages(f"/v1/images?album={album}") == [photos[2], photos[0]]
        assert (await alice.call("GET", f"/v1/images/{photos[0]}"))[1]["albums"] == [album]
        assert (await alice.call("DELETE", f"/v1/albums/{album}"))[0] == 204
        assert (await alice.call("GET", f"/v1/albums/{album}"))[0] == 404
        assert (await alice.call("GET", f"/v1/images?album={album}"))[0] == 404
        # The images stay, out of the deleted album.
        status, photo = await alice.call("GET", f"/v1/images/{photos[0]}")
        assert (status, photo["albums"]) == (200, [])
        assert len(await alice.all_pages("/v1/images")) == 3


async def test_a_large_album_comes_off_its_images_in_bounded_batches(
    make_settings: SettingsFactory,
) -> None:
    sweeper = SweeperSettings(batch_size=2, max_per_pass=3)
    async with gateway_client(make_settings(sweeper=sweeper)) as (client, key):
        alice = Tenant(client, key)
        album = await alice.album("Ten years of holidays")
        photos = [await alice.upload(seed) for seed in range(6)]
        for photo in photos:
            await alice.call("PUT", f"/v1/albums/{album}/images/{photo}")

        async def holders() -> list[str]:
            return [
                photo
                for photo in photos
                if album in (await alice.call("GET", f"/v1/images/{photo}"))[1]["albums"]
            ]

        # The request takes one batch off (the newest two) and answers; the album is gone
        # for every read from then on.
        assert (await alice.call("DELETE", f"/v1/albums/{album}"))[0] == 204
        assert (await alice.call("GET", f"/v1/albums/{album}"))[0] == 404
        assert (await alice.call("GET", f"/v1/images?album={album}"))[0] == 404
        assert await alice.all_pages("/v1/albums") == []
        assert await holders() == photos[:4]
        # The workers' sweeps take the rest, at most max_per_pass each, then the album.
        albums = client.app[BACKENDS].catalog.albums
        assert await finish_album_deletes(albums, sweeper) == 3
        assert await holders() == photos[:1]
        assert await finish_album_deletes(albums, sweeper) == 1
        assert await holders() == []
        assert await finish_album_deletes(albums, sweeper) == 0
        raw = client.app[BACKENDS].catalog.images.database["albums"]
        assert await raw.count_documents({"_id": album}) == 0, "the album document went too"


async def test_an_image_in_several_albums_and_albums_paged(make_settings: SettingsFactory) -> None:
    async with gateway_client(make_settings()) as (client, key):
        alice = Tenant(client, key)
        albums = [await alice.album(f"album {n}") for n in range(5)]
        assert await alice.all_pages("/v1/albums") == list(reversed(albums))
        photo, other = await alice.upload(1), await alice.upload(2)
        for album in albums[:3]:
            await alice.call("PUT", f"/v1/albums/{album}/images/{photo}")
        await alice.call("PUT", f"/v1/albums/{albums[0]}/images/{other}")
        assert sorted((await alice.call("GET", f"/v1/images/{photo}"))[1]["albums"]) == sorted(
            albums[:3]
        )
        assert await alice.all_pages(f"/v1/images?album={albums[0]}", limit=1) == [other, photo]
        assert await alice.all_pages(f"/v1/images?album={albums[2]}") == [photo]
        assert await alice.all_pages(f"/v1/images?album={albums[4]}") == []
        # Nothing renders here (no worker): every image is queued.
        assert await alice.all_pages(f"/v1/images?album={albums[0]}&status=queued") == [
            other,
            photo,
        ]
        assert await alice.all_pages(f"/v1/images?album={albums[0]}&status=ready") == []
        assert await alice.all_pages("/v1/images?status=failed") == []
        assert len(await alice.all_pages("/v1/images?status=queued")) == 2


async def test_tenants_cannot_see_or_touch_each_others_albums(
    make_settings: SettingsFactory,
) -> None:
    async with gateway_client(make_settings()) as (client, key):
        alice = Tenant(client, key)
        bob = Tenant(client, await client.app[BACKENDS].catalog.create_api_key("bob"))
        album, photo = await alice.album("Private"), await alice.upload(1)
        bobs_album, bobs_photo = await bob.album("Bob's"), await bob.upload(2)
        for method, path in [
            ("GET", f"/v1/albums/{album}"),
            ("DELETE", f"/v1/albums/{album}"),
            ("PUT", f"/v1/albums/{album}/images/{bobs_photo}"),
            ("PUT", f"/v1/albums/{bobs_album}/images/{photo}"),
            ("GET", f"/v1/images?album={album}"),
        ]:
            status, body = await bob.call(method, path)
            assert status == 404, (method, path, body)
        status, _ = await bob.call("PATCH", f"/v1/albums/{album}", json={"name": "Mine now"})
        assert status == 404
        assert await bob.all_pages("/v1/albums") == [bobs_album]
        assert (await alice.call("GET", f"/v1/albums/{album}"))[1]["name"] == "Private"


async def test_bad_album_requests_answer_400_naming_the_problem(
    make_settings: SettingsFactory,
) -> None:
    async with gateway_client(make_settings()) as (client, key):
        alice = Tenant(client, key)
        for body in ({"data": b"not json"}, {"json": []}, {"json": {"title": "x"}}):
            status, answer = await alice.call("POST", "/v1/albums", **body)
            assert (status, answer["error"]["code"]) == (400, "bad_request")
        status, answer = await alice.call("POST", "/v1/albums", json={"name": " "})
        assert status == 400
        assert "name" in answer["error"]["message"]
        bad = [("limit=0", "limit"), ("limit=x", "limit"), ("cursor=zz", "cursor")]
        for query, named in bad:
            for path in ("/v1/albums", "/v1/images"):
                status, answer = await alice.call("GET", f"{path}?{query}")
                assert status == 400
                assert named in answer["error"]["message"]
        status, answer = await alice.call("GET", "/v1/images?status=lost")
        assert (status, "status" in answer["error"]["message"]) == (400, True)


async def test_album_changes_are_live_events(make_settings: SettingsFactory) -> None:
    async with gateway_client(make_settings()) as (client, key):
        alice = Tenant(client, key)
        photo = await alice.upload(1)
        events = SseReader(await client.get("/v1/events", headers=alice.headers))
        album = await alice.album("Live")
        await alice.call("PUT", f"/v1/albums/{album}/images/{photo}")
        await alice.call("PATCH", f"/v1/albums/{album}", json={"name": "Renamed"})
        await alice.call("DELETE", f"/v1/albums/{album}/images/{photo}")
        await alice.call("DELETE", f"/v1/albums/{album}")
        seen = []
        while len(seen) < 5:
            event = (await events.until("album")).data
            seen.append((event["action"], event["album_id"], event.get("image_id")))
        events.close()
        assert seen == [
            ("created", album, None),
            ("image_added", album, photo),
            ("renamed", album, None),
            ("image_removed", album, photo),
            ("deleted", album, None),
        ]


async def test_album_names_are_unique_per_tenant_and_a_twin_is_refused_naming_the_album(
    make_settings: SettingsFactory,
) -> None:
    # `gallery albums add Trip ...` names albums by name: a second "Trip" would make it ambiguous.
    async with gateway_client(make_settings()) as (client, key):
        alice = Tenant(client, key)
        bob = Tenant(client, await client.app[BACKENDS].catalog.create_api_key("bob"))
        trip, cafe = await alice.album("Trip"), await alice.album("Caf\u00e9")
        for name in ("Trip", " Trip ", "Cafe\u0301"):  # trimmed and NFC, as names are kept
            status, answer = await alice.call("POST", "/v1/albums", json={"name": name})
            assert (status, answer["error"]["code"]) == (409, "album_exists"), name
            assert (trip if "Trip" in name else cafe) in answer["error"]["message"]
        status, answer = await alice.call("PATCH", f"/v1/albums/{cafe}", json={"name": "Trip"})
        assert (status, answer["error"]["code"]) == (409, "album_exists")
        assert f"an album named 'Trip' exists already (id {trip})" == answer["error"]["message"]
        status, same = await alice.call("PATCH", f"/v1/albums/{trip}", json={"name": "Trip"})
        assert (status, same["id"]) == (200, trip), "renaming to its own name is no conflict"
        assert await alice.album("trip"), "case is kept: another name"
        assert await bob.album("Trip"), "another tenant's name is not taken"
        assert (await alice.call("DELETE", f"/v1/albums/{trip}"))[0] == 204
        assert await alice.album("Trip"), "a deleted album's name is free again"
        assert len(await alice.all_pages("/v1/albums")) == 3


async def test_a_catalog_holding_twin_album_names_is_made_unique_at_start(
    make_settings: SettingsFactory,
) -> None:
    # Catalogs written before names were unique: the older album keeps the name.
    settings = make_settings()
    async with MongoCatalog.connect(settings.mongo) as catalog:
        raw = catalog.albums._albums
        names = ["Trip", "Trip", "Trip (2)", "Trip", "Home"]
        ids = [new_image_id() for _ in names]
        await raw.insert_many(
            [
                AlbumRecord(id=i, tenant="alice", name=n).to_document()
                for i, n in zip(ids, names, strict=True)
            ]
        )
        await raw.insert_one(
            AlbumRecord(id=new_image_id(), tenant="bob", name="Trip").to_document()
        )
        # Stored decomposed before names were normalised, then a composed twin.
        decomposed, composed = new_image_id(), new_image_id()
        await raw.insert_one(
            {
                **AlbumRecord(id=decomposed, tenant="alice", name="x").to_document(),
                "name": "Cafe\u0301",
            }
        )
        await raw.insert_one(
            AlbumRecord(id=composed, tenant="alice", name="Caf\u00e9").to_document()
        )
        await catalog.ensure_indexes()
        assert (await raw.find_one({"_id": decomposed}))["name"] == "Caf\u00e9", "stored in NFC"
        assert (await raw.find_one({"_id": composed}))["name"] == "Caf\u00e9 (2)"
        kept = {a.id: a.name for a in await catalog.albums.list_albums("alice", limit=10)}
        assert [kept[i] for i in ids] == ["Trip", "Trip (3)", "Trip (2)", "Trip (4)", "Home"]
        assert [a.name for a in await catalog.albums.list_albums("bob", limit=10)] == ["Trip"]
        with pytest.raises(AlbumExists):
            await catalog.albums.insert_album(
                AlbumRecord(id=new_image_id(), tenant="alice", name="Home")
            )
