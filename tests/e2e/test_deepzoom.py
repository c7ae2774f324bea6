"""Deep Zoom through the real system: the worker renders a panorama's tiles once, the gateway
serves each tile with its own ETag (304 on revalidation, immutable caching, the access check
of every image route: another tenant, no key, a share link of another photo), a share link and
the trash reach the tiles under their own prefix, and deleting the photo for good leaves no tile
behind in the store (MinIO)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import aiohttp
import pytest

from pipeline.adapters.storage import open_object_store
from pipeline.domain import names
from pipeline.imaging import deepzoom
from pipeline.runtime.settings import LimitsSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import jpeg_bytes, size_of, sniffed
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def test_tiles_are_served_revalidated_fenced_and_cleaned(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any
) -> None:
    settings = make_settings(limits=LimitsSettings(deep_zoom_min_side=2000))
    stack = await start_stack(settings, workers=1)
    api = await api_for(stack, "alice")
    mallory = await api_for(stack, "mallory")
    _, small = await api.upload(jpeg_bytes(1600, 1200, seed=1))
    _, pano = await api.upload(jpeg_bytes(3000, 600, seed=2))
    assert (await api.wait_status(small["id"], {"ready"}))["deep_zoom"] is None, "below 2000 px"
    doc = await api.wait_status(pano["id"], {"ready"})
    zoom = doc["deep_zoom"]
    version = doc["renditions"]["tiles"]["url"].rsplit("/", 1)[1]
    assert zoom == {
        "url": f"/v1/images/{pano['id']}/tiles/{version}",
        "width": 3000,
        "height": 600,
        "tile_size": 254,
        "overlap": 1,
        "format": "jpg",
        "max_level": 12,
    }

    etag = await check_last_tile(api, zoom)
    # Every tile is the archive's own bytes: compare a few levels against the stored ZIP.
    async with open_object_store(settings) as store:
        key = names.rendition_key("alice", pano["id"], "tiles", deepzoom.SPEC_HASH, "zip")
        archive = zipfile.ZipFile(io.BytesIO(await store.get_bytes(key)))
    other_etags = set()
    for level, col, row in ((0, 0, 0), (9, 1, 0), (12, 0, 0)):
        status, data = await api.get(f"{zoom['url']}/{level}/{col}_{row}.jpg")
        assert status == 200
        assert data == archive.read(deepzoom.tile_path(level, col, row))
        async with api.session.head(f"{api.url}{zoom['url']}/{level}/{col}_{row}.jpg") as head:
            other_etags.add(head.headers["ETag"])
    assert len(other_etags | {etag}) == 4, "one ETag per tile"

    await check_refusals(api, mallory, zoom, small["id"], pano["id"])
    await check_share_links(api, small["id"], pano["id"])

    assert await api.delete(f"/v1/images/{pano['id']}") == 204
    status, _ = await api.get(f"{zoom['url']}/12/0_0.jpg")
    assert status == 404, "a trashed photo's tiles are not in the gallery"
    status, trashed = await api.get(f"/v1/trash/{pano['id']}")
    assert trashed["deep_zoom"]["url"] == f"/v1/trash/{pano['id']}/tiles/{version}"
    status, _ = await api.get(f"{trashed['deep_zoom']['url']}/12/0_0.jpg")
    assert status == 200, "the trash shows the tiles until it is purged"
    assert await api.delete(f"/v1/images/{pano['id']}?permanent=true") == 204
    async with open_object_store(settings) as store:
        prefix = names.rendition_prefix("alice", pano["id"])

        async def cleaned() -> bool:
            return await store.list_keys(prefix) == []

        await eventually(cleaned, "the tiles are removed with the photo's other objects")


async def check_last_tile(api: Any, zoom: dict[str, Any]) -> str:
    """The last full-size tile: its size, caching headers, 304 and HEAD; returns its ETag."""
    url = f"{api.url}{zoom['url']}/12/11_2.jpg"
    async with api.session.get(url) as response:
        assert response.status == 200
        assert response.content_type == "image/jpeg"
        assert "immutable" in response.headers["Cache-Control"]
        assert "sandbox" in response.headers["Content-Security-Policy"], "a stored object's"
        etag = str(response.headers["ETag"])
        body = await response.read()
    assert sniffed(body) == "image/jpeg"
    assert size_of(body) == (3000 - 11 * 254 + 1, 600 - 2 * 254 + 1), "the last tile's size"
    async with api.session.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert response.headers["ETag"] == etag
        assert await response.read() == b""
    async with api.session.head(url) as response:
        assert response.status == 200
        assert response.content_length == len(body)
    return etag


async def check_share_links(api: Any, small_id: str, pano_id: str) -> None:
    """A link to the panorama serves its tiles without a key, under the link's prefix; a
    link to another photo reaches none of them."""
    anonymous = aiohttp.ClientSession()
    async with anonymous:
        links = {}
        for image_id in (pano_id, small_id):
            async with api.session.post(
                f"{api.url}/v1/shares", json={"image_id": image_id}
            ) as response:
                assert response.status == 201
                token = (await response.json())["url"].rsplit("/shared/", 1)[1]
            links[image_id] = f"{api.url}/v1/shared/{token}/images"
        async with anonymous.get(f"{links[pano_id]}/{pano_id}") as response:
            zoom = (await response.json())["deep_zoom"]
        version = zoom["url"].rsplit("/", 1)[1]
        assert f"{api.url}{zoom['url']}" == f"{links[pano_id]}/{pano_id}/tiles/{version}"
        async with anonymous.get(f"{api.url}{zoom['url']}/12/0_0.jpg") as response:
            assert response.status == 200
            assert response.headers["Referrer-Policy"] == "no-referrer"
        other = f"{links[small_id]}/{pano_id}/tiles/{version}/12/0_0.jpg"
        async with anonymous.get(other) as response:
            assert response.status == 404, "a link to another photo reaches none of its tiles"


async def check_refusals(
    api: Any, mallory: Any, zoom: dict[str, Any], small_id: str, pano_id: str
) -> None:
    """Tiles that do not exist, another tenant, no key, an outdated version."""
    version = zoom["url"].rsplit("/", 1)[1]
    for path, expected in (
        (f"{zoom['url']}/12/99_0.jpg", 404),  # past the last column
        (f"{zoom['url']}/13/0_0.jpg", 404),  # past the last level
        (f"{zoom['url']}/12/0_0.png", 404),
        (f"{zoom['url']}/x/0_0.jpg", 404),
        (f"/v1/images/{small_id}/tiles/{version}/0/0_0.jpg", 404),  # no tiles at all
    ):
        status, _ = await api.get(path)
        assert status == expected, path
    status, _ = await mallory.get(f"{zoom['url']}/12/0_0.jpg")
    assert status == 404, "another tenant's tiles do not exist for mallory"
    anonymous = aiohttp.ClientSession()
    async with anonymous, anonymous.get(f"{api.url}{zoom['url']}/12/0_0.jpg") as response:
        assert response.status == 401
    old = f"{api.url}/v1/images/{pano_id}/tiles/0123456789abcdef0123/12/0_0.jpg"
    async with api.session.get(old, allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"] == f"{zoom['url']}/12/0_0.jpg"
