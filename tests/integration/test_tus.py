"""Resumable uploads (tus 1.0) through the gateway on real servers, driven by ``tuspy``.

Two gateway apps on the same catalog and store stand for two replicas: an upload started on
one continues on the other (the state is in the catalog, the bytes in the store). Each test
runs on both object stores: S3 (MinIO, multipart parts plus a tail object) and the
filesystem store (part files).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tusclient.client import TusClient
from tusclient.exceptions import TusUploadFailed
from tusclient.uploader import Uploader

from gateway.appkeys import BACKENDS, UPLOADS
from pipeline.runtime.settings import LimitsSettings, Settings, StorageSettings, TusSettings
from tests.conftest import SettingsFactory
from tests.images import jpeg_bytes, png_bytes
from tests.integration.test_gateway import auth, gateway_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


class Sha256Uploader(Uploader):
    """tuspy sends SHA-1 checksums by default; the gateway advertises sha256."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


class LyingUploader(Uploader):
    """Sends a SHA-256 of other bytes: the gateway must answer 460 and keep nothing."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", lambda data: hashlib.sha256(b"not " + data))


@pytest.fixture(params=["s3", "filesystem"])
def settings(
    request: pytest.FixtureRequest, make_settings: SettingsFactory, tmp_path: Path
) -> Settings:
    storage = StorageSettings(backend=request.param, root=tmp_path / "objects")
    return make_settings(storage=storage, tus=TusSettings(part_bytes=5 * MiB))


@pytest.fixture
async def replicas(settings: Settings) -> AsyncIterator[tuple[TestClient, TestClient, str]]:
    async with gateway_client(settings) as (first, key), gateway_client(settings) as (second, _):
        yield first, second, key


def tus_client(client: TestClient, key: str) -> TusClient:
    return TusClient(
        str(client.make_url("/v1/uploads")), headers={"Authorization": f"Bearer {key}"}
    )


async def head(client: TestClient, key: str, url: str) -> Any:
    path = url[url.index("/v1/uploads") :]
    return await client.head(path, headers={**auth(key), **TUS})


async def test_interrupted_at_60_percent_resumes_on_another_replica(
    replicas: tuple[TestClient, TestClient, str],
) -> None:
    first, second, key = replicas
    photo = jpeg_bytes(4000, 3000, quality=100)  # ~10 MB: two 5 MiB parts and a tail
    stop = int(len(photo) * 0.6)
    started = Sha256Uploader(
        file_stream=io.BytesIO(photo),
        client=tus_client(first, key),
        chunk_size=2 * MiB,
        metadata={"filename": "holiday.jpg"},
        upload_checksum=True,
    )
    await asyncio.to_thread(started.upload, stop)
    assert started.url is not None
    assert (await head(second, key, started.url)).headers["Upload-Offset"] == str(stop)

    # Another replica, another client object: it learns the offset with HEAD and continues.
    url = started.url.replace(str(first.make_url("")), str(second.make_url("")))
    resumed = await asyncio.to_thread(
        Sha256Uploader,
        file_stream=io.BytesIO(photo),
        url=url,
        client=tus_client(second, key),
        chunk_size=3 * MiB,
        upload_checksum=True,
    )
    assert resumed.offset == stop
    await asyncio.to_thread(resumed.upload)
    done = await head(first, key, started.url)
    image_id = done.headers["Gallery-Image-Id"]
    image = await (await first.get(f"/v1/images/{image_id}", headers=auth(key))).json()
    assert image["sha256"] == hashlib.sha256(photo).hexdigest()
    assert (image["filename"], image["width"], image["bytes"]) == ("holiday.jpg", 4000, len(photo))
    original = await second.get(f"/v1/images/{image_id}/original", headers=auth(key))
    assert hashlib.sha256(await original.read()).hexdigest() == image["sha256"]
    assert await first.app[BACKENDS].store.list_keys("uploads/") == [], "no tail left"


async def test_a_wrong_checksum_answers_460_and_discards_the_part(
    replicas: tuple[TestClient, TestClient, str],
) -> None:
    first, _, key = replicas
    photo = jpeg_bytes(1600, 1200, seed=4)
    honest = Sha256Uploader(
        file_stream=io.BytesIO(photo), client=tus_client(first, key), chunk_size=len(photo) // 2
    )
    await asyncio.to_thread(honest.upload_chunk)
    half = honest.offset
    liar = await asyncio.to_thread(
        LyingUploader,
        file_stream=io.BytesIO(photo),
        url=honest.url,
        client=tus_client(first, key),
        upload_checksum=True,
    )
    with pytest.raises(TusUploadFailed) as failed:
        await asyncio.to_thread(liar.upload)
    assert failed.value.status_code == 460
    assert (await head(first, key, honest.url or "")).headers["Upload-Offset"] == str(half)
    honest.upload_checksum = True
    await asyncio.to_thread(honest.upload)
    assert "Gallery-Image-Id" in (await head(first, key, honest.url or "")).headers


async def test_a_creation_with_a_malformed_checksum_is_refused_before_creating(
    replicas: tuple[TestClient, TestClient, str],
) -> None:
    """Found by schemathesis: without a body the bad Upload-Checksum went unchecked (201)."""
    first, _, key = replicas
    headers = auth(key) | TUS | {"Upload-Length": "7", "Upload-Checksum": "y.;ZAaw &"}
    response = await first.post("/v1/uploads", headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "checksum_algorithm"
    assert "Location" not in response.headers


async def test_options_creation_with_upload_and_a_later_plain_duplicate(
    replicas: tuple[TestClient, TestClient, str],
) -> None:
    first, _, key = replicas
    options = await first.options("/v1/uploads")
    assert options.status == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert options.headers["Tus-Checksum-Algorithm"] == "sha256"
    photo = png_bytes(300, 200, seed=9)
    created = await first.post(
        "/v1/uploads",
        data=photo,
        headers={
            **auth(key),
            **TUS,
            "Upload-Length": str(len(photo)),
            "Upload-Metadata": "filename " + base64.b64encode(b"tiny.png").decode(),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert created.status == 201, await created.text()
    assert created.headers["Location"].startswith("/v1/uploads/")
    assert created.headers["Upload-Offset"] == str(len(photo))
    image_id = created.headers["Gallery-Image-Id"]
    plain = await first.post("/v1/images", data=photo, headers=auth(key))
    assert plain.status == 200
    assert (await plain.json())["id"] == image_id
    again = await first.post(
        "/v1/uploads",
        data=photo,
        headers={
            **auth(key),
            **TUS,
            "Upload-Length": str(len(photo)),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert (again.headers["Gallery-Image-Id"], again.headers["Gallery-Duplicate"]) == (
        image_id,
        "true",
    )


async def test_protocol_errors(replicas: tuple[TestClient, TestClient, str]) -> None:
    first, _, key = replicas
    headers = {**auth(key), **TUS}
    no_version = await first.post("/v1/uploads", headers={**auth(key), "Upload-Length": "10"})
    assert no_version.status == 412
    assert no_version.headers["Tus-Version"] == "1.0.0"
    created = await first.post("/v1/uploads", headers={**headers, "Upload-Length": "5000"})
    location = created.headers["Location"]
    assert "Upload-Expires" in created.headers
    patch = {**headers, "Content-Type": "application/offset+octet-stream"}
    wrong = await first.patch(location, data=b"x" * 10, headers={**patch, "Upload-Offset": "7"})
    assert wrong.status == 409
    bad_type = await first.patch(
        location, data=b"x", headers={**headers, "Upload-Offset": "0", "Content-Type": "text/plain"}
    )
    assert bad_type.status == 415
    sha1 = await first.patch(
        location, data=b"x", headers={**patch, "Upload-Offset": "0", "Upload-Checksum": "sha1 AAAA"}
    )
    assert sha1.status == 400
    not_image = await first.patch(
        location, data=b"%PDF-1.7\n" + b"x" * 200, headers={**patch, "Upload-Offset": "0"}
    )
    assert not_image.status == 415, "refused on its first bytes"
    assert (await first.head(location, headers=headers)).status == 404, "and forgotten"
    # Over the limit of every type (a video may be larger than a photo).
    over = str(LimitsSettings().largest_upload_bytes + 1)
    too_big = await first.post("/v1/uploads", headers={**headers, "Upload-Length": over})
    assert too_big.status == 413
    other = await first.app[BACKENDS].catalog.create_api_key("bob")
    mine = await first.post("/v1/uploads", headers={**headers, "Upload-Length": "100"})
    theirs = await first.head(mine.headers["Location"], headers={**auth(other), **TUS})
    assert theirs.status == 404


async def test_termination_and_expiry_leave_nothing_in_the_store(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(tus=TusSettings(part_bytes=5 * MiB, expire_seconds=2))
    photo = jpeg_bytes(4000, 3000, quality=100)
    async with gateway_client(settings) as (client, key):
        headers = {**auth(key), **TUS}
        patch = {**headers, "Content-Type": "application/offset+octet-stream"}
        store = client.app[BACKENDS].store
        locations = []
        for _ in range(2):
            created = await client.post(
                "/v1/uploads", headers={**headers, "Upload-Length": str(len(photo))}
            )
            location = created.headers["Location"]
            sent = await client.patch(
                location, data=io.BytesIO(photo[: 6 * MiB]), headers={**patch, "Upload-Offset": "0"}
            )
            assert sent.status == 204
            locations.append(location)
        assert await store.list_keys("uploads/"), "a tail after the 5 MiB part"
        assert (await client.delete(locations[0], headers=headers)).status == 204
        assert (await client.head(locations[0], headers=headers)).status == 404
        await _until(lambda: _status(client, locations[1], headers), 410)
        assert await client.app[UPLOADS].expire() == 1
        assert await store.list_keys("uploads/") == []
        assert await store.list_keys("originals/") == []
        assert (await client.head(locations[1], headers=headers)).status == 404


async def _status(client: TestClient, path: str, headers: dict[str, str]) -> int:
    return (await client.head(path, headers=headers)).status


async def _until(probe: Any, expected: int, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (got := await probe()) != expected:
        assert loop.time() < deadline, f"still {got}, wanted {expected}"
        await asyncio.sleep(0.1)


async def test_the_upload_size_limit_is_tus_max_size(make_settings: SettingsFactory) -> None:
    limits = LimitsSettings(max_upload_bytes=50_000, max_video_upload_bytes=50_000)
    settings = make_settings(limits=limits)
    async with gateway_client(settings) as (client, key):
        options = await client.options("/v1/uploads")
        assert options.headers["Tus-Max-Size"] == "50000"
        refused = await client.post(
            "/v1/uploads", headers={**auth(key), **TUS, "Upload-Length": "50001"}
        )
        assert refused.status == 413


async def test_album_metadata_files_the_finished_upload_in_that_album(
    make_settings: SettingsFactory,
) -> None:
    async with gateway_client(make_settings()) as (client, key):
        album = await (
            await client.post("/v1/albums", json={"name": "Holiday"}, headers=auth(key))
        ).json()
        photo = png_bytes(120, 90, seed=11)
        meta = "filename " + base64.b64encode(b"a.png").decode()
        headers = {**auth(key), **TUS, "Upload-Length": str(len(photo))}
        unknown = await client.post(
            "/v1/uploads",
            headers={
                **headers,
                "Upload-Metadata": meta + ",album " + base64.b64encode(b"nope").decode(),
            },
        )
        assert unknown.status == 404
        created = await client.post(
            "/v1/uploads",
            data=photo,
            headers={
                **headers,
                "Upload-Metadata": meta
                + ",album "
                + base64.b64encode(album["id"].encode()).decode(),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        image_id = created.headers["Gallery-Image-Id"]
        image = await (await client.get(f"/v1/images/{image_id}", headers=auth(key))).json()
        assert image["albums"] == [album["id"]]
