"""Quotas that hold through racing uploads and through tus, and what a PATCH costs the store.

The attacks of issue 18: with a 5-image quota, 8 resumable uploads opened under it and
finished became 8 images; 60 MB was parked in unfinished uploads under a 20 MB quota, each
PATCH extending their life; a 1-byte PATCH rewrote the whole pending tail (4.7 MB written
per byte sent).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gateway.appkeys import BACKENDS
from pipeline.runtime.settings import FairShareSettings, QuotaSettings, StorageSettings, TusSettings
from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.integration.test_gateway import auth, gateway_client

pytestmark = pytest.mark.security
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = {"Content-Type": "application/offset+octet-stream"}
KiB, MiB = 1024, 1024 * 1024
#: Shares wide enough for a race of 12: the quota, not the upload share, is what is tried.
WIDE = FairShareSettings(uploads_per_tenant=32, uploads_per_key=32)


async def post(client: TestClient, key: str, seed: int) -> int:
    response = await client.post(
        "/v1/images",
        data=png_bytes(40, 30, seed=seed),
        headers={**auth(key), "Content-Type": "image/png"},
    )
    await response.release()
    return response.status


async def create(client: TestClient, key: str, length: int) -> tuple[int, str]:
    meta = "filename " + base64.b64encode(b"t.png").decode()
    response = await client.post(
        "/v1/uploads",
        headers={**auth(key), **TUS, "Upload-Length": str(length), "Upload-Metadata": meta},
    )
    await response.release()
    return response.status, response.headers.get("Location", "")


async def patch(client: TestClient, key: str, url: str, offset: int, data: bytes) -> Any:
    response = await client.patch(
        url, data=data, headers={**auth(key), **TUS, **OFFSET_STREAM, "Upload-Offset": str(offset)}
    )
    await response.release()
    return response


async def image_count(client: TestClient) -> int:
    return (await client.app[BACKENDS].catalog.usage.tenant_usage("alice"))[0]


async def test_racing_posts_at_the_image_quota_never_overshoot(
    make_settings: SettingsFactory,
) -> None:
    async with gateway_client(make_settings(quota=QuotaSettings(max_images=5), fair=WIDE)) as (
        client,
        key,
    ):
        statuses = await asyncio.gather(*(post(client, key, seed) for seed in range(12)))
        assert sorted(statuses) == [202] * 5 + [403] * 7, statuses
        assert await image_count(client) == 5


async def test_racing_posts_at_the_byte_quota_never_overshoot(
    make_settings: SettingsFactory,
) -> None:
    size = len(png_bytes(40, 30, seed=0))
    quota = QuotaSettings(max_bytes=size * 3 + size // 2)
    async with gateway_client(make_settings(quota=quota, fair=WIDE)) as (client, key):
        statuses = await asyncio.gather(*(post(client, key, seed) for seed in range(10)))
        assert statuses.count(202) <= 3, statuses
        stored = (await client.app[BACKENDS].catalog.usage.tenant_usage("alice"))[1]
        assert stored <= quota.max_bytes


async def test_resumable_uploads_reserve_the_image_quota(make_settings: SettingsFactory) -> None:
    async with gateway_client(make_settings(quota=QuotaSettings(max_images=5))) as (client, key):
        photos = [png_bytes(40, 30, seed=seed) for seed in range(8)]
        created = await asyncio.gather(*(create(client, key, len(p)) for p in photos))
        opened = [(url, p) for (status, url), p in zip(created, photos, strict=True) if url]
        assert sorted(status for status, _ in created) == [201] * 5 + [403] * 3
        for url, photo in opened:
            assert (await patch(client, key, url, 0, photo)).status == 204
        assert await image_count(client) == 5
        assert await post(client, key, 99) == 403, "the quota is full"


async def test_unfinished_uploads_hold_their_bytes_and_are_capped(
    make_settings: SettingsFactory,
) -> None:
    quota = QuotaSettings(max_bytes=20 * MiB, max_open_uploads=3)
    async with gateway_client(make_settings(quota=quota)) as (client, key):
        assert (await create(client, key, 12 * MiB))[0] == 201
        assert (await create(client, key, 12 * MiB))[0] == 403, "12 + 12 MB > 20 MB"
        assert (await create(client, key, 1000))[0] == 201
        assert (await create(client, key, 1000))[0] == 201
        assert (await create(client, key, 1000))[0] == 403, "three open uploads at most"


async def test_a_patch_does_not_extend_an_uploads_life(make_settings: SettingsFactory) -> None:
    settings = make_settings(tus=TusSettings(min_patch_bytes=1000))
    async with gateway_client(settings) as (client, key):
        photo = png_bytes(300, 200)
        status, url = await create(client, key, len(photo))
        assert status == 201
        head = await client.head(url, headers={**auth(key), **TUS})
        expires = head.headers["Upload-Expires"]
        await asyncio.sleep(1.1)  # the expiry header has a resolution of one second
        response = await patch(client, key, url, 0, photo[:2000])
        assert response.status == 204
        assert response.headers["Upload-Expires"] == expires


async def test_small_patches_are_refused_but_the_last(make_settings: SettingsFactory) -> None:
    settings = make_settings(tus=TusSettings(min_patch_bytes=4096))
    async with gateway_client(settings) as (client, key):
        photo = png_bytes(300, 200)
        status, url = await create(client, key, len(photo))
        assert status == 201
        refused = await patch(client, key, url, 0, photo[:1])
        assert refused.status == 400
        head = await client.head(url, headers={**auth(key), **TUS})
        assert head.headers["Upload-Offset"] == "0", "the refused bytes were not kept"
        assert (await patch(client, key, url, 0, photo[:5000])).status == 204
        rest = photo[5000:]
        assert (await patch(client, key, url, 5000, rest)).status == 204, "the last may be short"


async def test_bytes_stored_per_patch_byte_stay_bounded(
    make_settings: SettingsFactory, tmp_path: Any
) -> None:
    """64 KiB PATCHes of a 3 MiB upload (under a part): the store is handed each byte about
    twice (its tail segment, then the assembled object), whatever the number of PATCHes."""
    settings = make_settings(
        storage=StorageSettings(backend="filesystem", root=tmp_path / "objects"),
        tus=TusSettings(min_patch_bytes=64 * KiB),
    )
    async with gateway_client(settings) as (client, key):
        store = client.app[BACKENDS].store
        written = count_writes(store)
        data = png_bytes(40, 30) + bytes(3 * MiB)  # a valid head; the rest need not decode
        status, url = await create(client, key, len(data))
        assert status == 201
        step = 64 * KiB
        for offset in range(0, len(data), step):
            piece = data[offset : offset + step]
            response = await patch(client, key, url, offset, piece)
            assert response.status in {204, 422}, response.status
        ratio = written["bytes"] / len(data)
        print(f"bytes handed to the store per byte received: {ratio:.2f} over 49 PATCHes")
        assert ratio <= 3.0


def count_writes(store: Any) -> dict[str, int]:
    """Count the bytes given to ``store``'s writing methods (the real methods still run)."""
    written = {"bytes": 0}
    put, part = store.put_bytes, store.upload_part

    async def put_bytes(key: str, data: bytes, **kwargs: Any) -> None:
        written["bytes"] += len(data)
        await put(key, data, **kwargs)

    async def upload_part(key: str, upload_id: str, number: int, data: bytes) -> str:
        written["bytes"] += len(data)
        return str(await part(key, upload_id, number, data))

    store.put_bytes, store.upload_part = put_bytes, upload_part
    return written


async def chunked_post(client: TestClient, key: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """A POST with ``Transfer-Encoding: chunked`` (no Content-Length to reserve up front)."""

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * KiB):
            yield body[start : start + 64 * KiB]

    response = await client.post(
        "/v1/images", data=chunks(), headers={**auth(key), "Content-Type": "image/png"}
    )
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    return response.status, await response.json()


async def test_a_chunked_post_cannot_store_past_the_byte_quota(
    make_settings: SettingsFactory,
) -> None:
    """The bypass: a body without Content-Length reserved no bytes, so one chunked POST could
    store any size under any byte quota. Now its bytes are held as they arrive."""
    big = png_bytes(1200, 900, seed=1)  # 2.8 MB
    quota = QuotaSettings(max_bytes=1 * MiB, stream_reserve_bytes=256 * KiB)
    async with gateway_client(make_settings(quota=quota)) as (client, key):
        status, body = await chunked_post(client, key, big)
        assert status == 403, body
        assert "bytes" in body["error"]["message"]
        assert await image_count(client) == 0
        store = client.app[BACKENDS].store
        assert await store.list_keys("originals/alice/") == [], "the refused body is deleted"
        # What fits still goes through, chunked too, and the quota then counts it.
        small = png_bytes(40, 30, seed=2)
        assert (await chunked_post(client, key, small))[0] == 202
        assert (await client.app[BACKENDS].catalog.usage.tenant_usage("alice"))[1] == len(small)


async def test_racing_chunked_posts_at_the_byte_quota_never_overshoot(
    make_settings: SettingsFactory,
) -> None:
    photos = [png_bytes(40, 30, seed=seed) for seed in range(10)]
    quota = QuotaSettings(max_bytes=len(photos[0]) * 3 + len(photos[0]) // 2)
    async with gateway_client(make_settings(quota=quota, fair=WIDE)) as (client, key):
        answers = await asyncio.gather(*(chunked_post(client, key, p) for p in photos))
        statuses = [status for status, _ in answers]
        assert 1 <= statuses.count(202) <= 3, statuses
        assert set(statuses) <= {202, 403}, answers
        stored = (await client.app[BACKENDS].catalog.usage.tenant_usage("alice"))[1]
        assert stored <= quota.max_bytes
