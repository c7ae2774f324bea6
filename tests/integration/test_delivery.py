"""Delivering originals and renditions through the gateway, on both object stores:
versioned rendition URLs, conditional GETs, byte ranges, and redirects to presigned S3 URLs."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from gateway.appkeys import BACKENDS
from pipeline.domain import names
from pipeline.domain.models import ReadyImage, Rendition
from pipeline.runtime.settings import GatewaySettings, S3Settings, StorageSettings
from tests.conftest import SettingsFactory
from tests.images import png_bytes, webp_bytes
from tests.integration.test_http_hygiene import Gateway, open_gateway
from tests.s3server import S3Endpoint

pytestmark = pytest.mark.integration
IMMUTABLE = "private, max-age=31536000, immutable"


@pytest.fixture(params=["s3", "filesystem"])
async def gateway(
    request: pytest.FixtureRequest, make_settings: SettingsFactory, tmp_path: Path
) -> AsyncIterator[Gateway]:
    storage = StorageSettings(backend=request.param, root=tmp_path / "objects")
    async with open_gateway(make_settings(storage=storage)) as opened:
        yield opened


async def upload(gateway: Gateway, body: bytes) -> str:
    response = await gateway.client.post("/v1/images", data=body, headers=gateway.auth)
    assert response.status == 202, await response.text()
    return str((await response.json())["id"])


async def make_ready(gateway: Gateway, image_id: str, thumb: bytes) -> Rendition:
    """What a worker does, in-process: store a rendition and mark the image ready."""
    backends = gateway.client.app[BACKENDS]
    record = await backends.catalog.claim(
        "alice", image_id, owner="test", lease=timedelta(minutes=1)
    )
    assert record is not None
    key = names.rendition_key("alice", image_id, "thumb", "spec1", "webp")
    await backends.store.put_bytes(key, thumb, content_type="image/webp")
    rendition = Rendition(
        name="thumb",
        key=key,
        spec_hash="spec1",
        width=16,
        height=16,
        content_type="image/webp",
        bytes=len(thumb),
        sha256=hashlib.sha256(thumb).hexdigest(),
    )
    done = ReadyImage(
        renditions={"thumb": rendition},
        width=record.width,
        height=record.height,
        frames=1,
        metadata={},
        thumbhash="",
    )
    ready = await backends.catalog.mark_ready("alice", image_id, done, owner="test")
    assert ready is not None
    return rendition


async def test_versioned_rendition_urls(gateway: Gateway) -> None:
    image_id = await upload(gateway, png_bytes(60, 40, seed=1))
    thumb = webp_bytes(16, 16, seed=1)
    rendition = await make_ready(gateway, image_id, thumb)
    doc = await (await gateway.client.get(f"/v1/images/{image_id}", headers=gateway.auth)).json()
    url = doc["renditions"]["thumb"]["url"]
    sha = hashlib.sha256(thumb).hexdigest()
    assert url == f"/v1/images/{image_id}/renditions/thumb/{sha[:20]}"
    assert rendition.version == sha[:20]

    old = await gateway.client.get(
        f"/v1/images/{image_id}/renditions/thumb", headers=gateway.auth, allow_redirects=False
    )
    assert old.status == 302
    assert old.headers["Location"] == url

    versioned = await gateway.client.get(url, headers=gateway.auth)
    assert versioned.status == 200
    assert await versioned.read() == thumb
    assert versioned.headers["ETag"] == f'"{sha}"'  # strong: the hash of these bytes
    assert versioned.headers["Cache-Control"] == IMMUTABLE
    assert versioned.headers["Content-Type"] == "image/webp"

    stale = await gateway.client.get(
        f"/v1/images/{image_id}/renditions/thumb/0123456789abcdef0123",
        headers=gateway.auth,
        allow_redirects=False,
    )
    assert (stale.status, stale.headers["Location"]) == (302, url)


async def test_the_redirect_keeps_the_query_percent_encoded(gateway: Gateway) -> None:
    """Found by schemathesis: a decoded %1F in Location made aiohttp drop the connection."""
    image_id = await upload(gateway, png_bytes(60, 40, seed=2))
    await make_ready(gateway, image_id, webp_bytes(16, 16, seed=2))
    response = await gateway.client.get(
        f"/v1/images/{image_id}/renditions/thumb?redirect=%1F&x=a%0Ab",
        headers=gateway.auth,
        allow_redirects=False,
    )
    assert response.status == 302
    assert response.headers["Location"].endswith("?redirect=%1F&x=a%0Ab")


async def test_conditional_get_with_weak_tags_lists_and_star(gateway: Gateway) -> None:
    image_id = await upload(gateway, png_bytes(61, 40, seed=2))
    thumb = webp_bytes(16, 16, seed=2)
    await make_ready(gateway, image_id, thumb)
    doc = await (await gateway.client.get(f"/v1/images/{image_id}", headers=gateway.auth)).json()
    url = doc["renditions"]["thumb"]["url"]
    etag = (await gateway.client.get(url, headers=gateway.auth)).headers["ETag"]
    for header in [etag, f"W/{etag}", f'"nope", W/{etag}', "*"]:
        response = await gateway.client.get(url, headers={**gateway.auth, "If-None-Match": header})
        assert response.status == 304, header
        assert response.headers["ETag"] == etag
        assert await response.read() == b""
    changed = await gateway.client.get(url, headers={**gateway.auth, "If-None-Match": '"nope"'})
    assert changed.status == 200
    original = f"/v1/images/{image_id}/original"
    tag = (await gateway.client.get(original, headers=gateway.auth)).headers["ETag"]
    again = await gateway.client.get(
        original, headers={**gateway.auth, "If-None-Match": f"W/{tag}"}
    )
    assert again.status == 304


async def test_range_requests_on_originals_and_renditions(gateway: Gateway) -> None:
    photo = png_bytes(300, 200, seed=3)
    image_id = await upload(gateway, photo)
    original = f"/v1/images/{image_id}/original"
    size = len(photo)

    async def get(path: str, **headers: str) -> aiohttp.ClientResponse:
        return await gateway.client.get(path, headers={**gateway.auth, **headers})

    whole = await get(original)
    assert whole.headers["Accept-Ranges"] == "bytes"
    etag = whole.headers["ETag"]
    first = await get(original, Range="bytes=0-99")
    assert first.status == 206
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert await first.read() == photo[:100]
    tail = await get(original, Range="bytes=-50")
    assert (tail.status, await tail.read()) == (206, photo[-50:])
    middle = await get(original, Range=f"bytes={size - 10}-")
    assert await middle.read() == photo[-10:]
    past = await get(original, Range=f"bytes={size}-")
    assert past.status == 416
    assert past.headers["Content-Range"] == f"bytes */{size}"
    assert (await past.json())["error"]["code"] == "range_not_satisfiable"
    outdated = await get(original, Range="bytes=0-9", **{"If-Range": '"other"'})
    assert (outdated.status, len(await outdated.read())) == (200, size)
    current = await get(original, Range="bytes=0-9", **{"If-Range": etag})
    assert (current.status, await current.read()) == (206, photo[:10])

    thumb = webp_bytes(16, 16, seed=3)
    await make_ready(gateway, image_id, thumb)
    doc = await (await get(f"/v1/images/{image_id}")).json()
    part = await get(doc["renditions"]["thumb"]["url"], Range="bytes=2-5")
    assert (part.status, await part.read()) == (206, thumb[2:6])


async def test_redirect_to_a_presigned_url_on_the_public_endpoint(
    make_settings: SettingsFactory, s3_server: S3Endpoint
) -> None:
    # "localhost" instead of the 127.0.0.1 the gateway uses: proves which endpoint signs.
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")
    settings = make_settings()
    s3 = S3Settings(**{**settings.s3.model_dump(), "public_endpoint": public, "presign_seconds": 2})
    async with open_gateway(make_settings(s3=s3)) as gateway:
        photo = png_bytes(64, 48, seed=4)
        image_id = await upload(gateway, photo)
        original = f"/v1/images/{image_id}/original"
        response = await gateway.client.get(
            f"{original}?redirect=1", headers=gateway.auth, allow_redirects=False
        )
        assert response.status == 302
        location = response.headers["Location"]
        assert location.startswith(f"{public}/")
        assert response.headers["Cache-Control"] == "no-store"
        async with aiohttp.ClientSession() as browser:  # no API key: the URL is the grant
            async with browser.get(location) as fetched:
                assert fetched.status == 200
                assert await fetched.read() == photo
            async with browser.get(location, headers={"Range": "bytes=0-3"}) as part:
                assert (part.status, await part.read()) == (206, photo[:4])
            await _until_refused(browser, location, deadline=30.0)
        streamed = await gateway.client.get(f"{original}?redirect=0", headers=gateway.auth)
        assert await streamed.read() == photo


async def _until_refused(browser: aiohttp.ClientSession, url: str, deadline: float) -> None:
    """Poll the presigned URL until S3 refuses it as expired (bounded)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while loop.time() < end:
        async with browser.get(url) as response:
            if response.status == 403:
                assert b"expired" in (await response.read()).lower()
                return
            assert response.status == 200
        await asyncio.sleep(0.5)
    raise AssertionError(f"presigned URL still valid after {deadline} s")


async def test_the_redirect_setting_and_the_filesystem_store(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    gateway_settings = GatewaySettings(redirect_downloads=True)
    async with open_gateway(make_settings(gateway=gateway_settings)) as gateway:
        image_id = await upload(gateway, png_bytes(20, 20, seed=5))
        response = await gateway.client.get(
            f"/v1/images/{image_id}/original", headers=gateway.auth, allow_redirects=False
        )
        assert response.status == 302, "the setting redirects without ?redirect=1"
    storage = StorageSettings(backend="filesystem", root=tmp_path / "objects")
    async with open_gateway(make_settings(gateway=gateway_settings, storage=storage)) as gateway:
        photo = png_bytes(20, 20, seed=6)
        image_id = await upload(gateway, photo)
        response = await gateway.client.get(
            f"/v1/images/{image_id}/original?redirect=1", headers=gateway.auth
        )
        assert response.status == 200, "no URLs to hand out: the gateway streams"
        assert await response.read() == photo
