"""One contract for every ObjectStore: S3 against a real server, filesystem under tmp_path.

Each test gets its own bucket (S3) or root folder (filesystem), so tests never see each
other's objects. The S3 server is the session-wide ``s3_server`` fixture from
``tests/conftest.py`` (MinIO; moto's emulator with ``GALLERY_TEST_S3=moto``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
import pytest
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.adapters.storage import (
    FilesystemObjectStore,
    ObjectStore,
    S3ObjectStore,
    open_object_store,
)
from pipeline.domain.errors import ConfigurationError, InputError, ObjectNotFound, StorageError
from pipeline.runtime.settings import S3Settings, Settings, StorageSettings
from tests.s3server import S3Endpoint

pytestmark = pytest.mark.integration

PART = 5 * 1024 * 1024
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Backend:
    kind: str  # "s3" or "filesystem"
    store: ObjectStore
    bucket: str = ""
    root: Path | None = None


def s3_settings(server: S3Endpoint, bucket: str, *, create_bucket: bool = True) -> S3Settings:
    return S3Settings(
        endpoint=server.endpoint,
        bucket=bucket,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
        part_bytes=PART,
        create_bucket=create_bucket,
    )


def unique_bucket() -> str:
    return f"contract-{uuid.uuid4().hex[:20]}"


@pytest.fixture(params=["s3", "filesystem"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "s3":
        server: S3Endpoint = request.getfixturevalue("s3_server")
        bucket = unique_bucket()
        settings = Settings(storage=StorageSettings(backend="s3"), s3=s3_settings(server, bucket))
        async with open_object_store(settings) as store:
            assert isinstance(store, S3ObjectStore)
            await store.check()
            yield Backend("s3", store, bucket=bucket)
    else:
        root = tmp_path / "objects"
        settings = Settings(storage=StorageSettings(backend="filesystem", root=root))
        async with open_object_store(settings) as store:
            assert isinstance(store, FilesystemObjectStore)
            await store.check()
            yield Backend("filesystem", store, root=root)


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    return backend.store


@contextlib.asynccontextmanager
async def raw_s3(server: S3Endpoint) -> AsyncIterator[Any]:
    """A plain aioboto3 client, to look behind the store's back."""
    session: Any = aioboto3.Session()
    async with session.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=AioConfig(s3={"addressing_style": "path"}),
    ) as client:
        yield client


def body_of(size: int, seed: int = 1234) -> bytes:
    return random.Random(seed).randbytes(size)


async def chunked(data: bytes, size: int = CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def leftovers(backend: Backend, server: S3Endpoint | None, key: str) -> list[str]:
    """Pending multipart uploads (S3) or temp files (filesystem) that a write left behind."""
    if backend.kind == "s3":
        assert server is not None
        async with raw_s3(server) as client:
            listing = await client.list_multipart_uploads(Bucket=backend.bucket, Prefix=key)
        return [upload["UploadId"] for upload in listing.get("Uploads", [])]
    assert backend.root is not None
    return [path.name for path in (backend.root / ".tmp").iterdir()]


def server_for(backend: Backend, request: pytest.FixtureRequest) -> S3Endpoint | None:
    return request.getfixturevalue("s3_server") if backend.kind == "s3" else None


# --- reads and writes ---------------------------------------------------------------------


async def test_put_bytes_get_bytes_roundtrip(store: ObjectStore) -> None:
    key = "originals/tenant-a/img-1"
    await store.put_bytes(key, b"first", content_type="image/jpeg")
    assert await store.get_bytes(key) == b"first"

    await store.put_bytes(key, b"second, longer", content_type="image/png")
    assert await store.get_bytes(key) == b"second, longer"
    info = await store.stat(key)
    assert (info.key, info.size, info.content_type) == (key, 14, "image/png")


async def test_empty_object(store: ObjectStore) -> None:
    assert await store.put_stream("empty", chunked(b""), content_type="text/plain") == 0
    assert await store.get_bytes("empty") == b""
    assert (await store.stat("empty")).size == 0


async def test_put_stream_small_body_is_single_put(store: ObjectStore) -> None:
    data = body_of(PART - 1)
    assert await store.put_stream("small", chunked(data), content_type="image/webp") == len(data)
    info = await store.stat("small")
    # A single PUT's ETag is the MD5 of the body (no "-N" multipart suffix) on both stores.
    assert info.etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert await store.get_bytes("small") == data


async def test_etag_follows_an_overwritten_object(store: ObjectStore) -> None:
    # The filesystem store computes a streamed object's MD5 on first stat, not while the
    # upload streams: a later version of the object must never show the old ETag.
    for data in (body_of(1000), body_of(2000)):
        await store.put_stream("again", chunked(data), content_type="image/jpeg")
        for _ in range(2):  # computed, then read back
            etag = (await store.stat("again")).etag
            assert etag == hashlib.md5(data, usedforsecurity=False).hexdigest()


async def test_put_stream_large_body_is_multipart(backend: Backend) -> None:
    store = backend.store
    data = body_of(12 * 1024 * 1024 + 123)
    written = await store.put_stream("big", chunked(data), content_type="image/tiff")
    assert written == len(data)

    info = await store.stat("big")
    assert (info.size, info.content_type) == (len(data), "image/tiff")
    assert await store.get_bytes("big") == data
    if backend.kind == "s3":
        assert info.etag.endswith("-3"), info.etag  # 5 MiB + 5 MiB + the rest
    else:
        assert info.etag == hashlib.md5(data, usedforsecurity=False).hexdigest()


async def test_put_stream_memory_stays_flat(store: ObjectStore) -> None:
    """A 40 MiB upload holds about one 5 MiB part at a time, not the whole body."""

    async def generated() -> AsyncIterator[bytes]:
        block = b"\x5a" * CHUNK
        for _ in range(40 * 1024 * 1024 // CHUNK):
            yield block

    tracemalloc.start()
    try:
        written = await store.put_stream("flat", generated(), content_type="image/jpeg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written == 40 * 1024 * 1024
    assert peak < 2 * PART, f"peak {peak / 2**20:.1f} MiB"
    assert (await store.stat("flat")).size == written


async def test_stream_yields_same_bytes_in_chunks(store: ObjectStore) -> None:
    data = body_of(1024 * 1024 + 7)
    await store.put_bytes("streamed", data, content_type="application/octet-stream")

    chunks = [chunk async for chunk in store.stream("streamed", chunk_size=CHUNK)]
    assert len(chunks) > 1
    assert all(0 < len(chunk) <= CHUNK for chunk in chunks)
    assert b"".join(chunks) == data


@pytest.mark.parametrize(
    ("start", "end"), [(0, 10), (5, None), (CHUNK - 1, CHUNK + 2), (1000, 3 * CHUNK + 9)]
)
async def test_stream_a_byte_range(store: ObjectStore, start: int, end: int | None) -> None:
    data = body_of(3 * CHUNK + 9)
    await store.put_bytes("ranged", data, content_type="application/octet-stream")
    chunks = [c async for c in store.stream("ranged", chunk_size=CHUNK, start=start, end=end)]
    assert all(0 < len(chunk) <= CHUNK for chunk in chunks)
    assert b"".join(chunks) == data[start:end]


async def test_stream_closed_early_releases_everything(store: ObjectStore) -> None:
    data = body_of(2 * 1024 * 1024)
    await store.put_bytes("partial", data, content_type="application/octet-stream")
    stream = store.stream("partial", chunk_size=CHUNK)
    first = await anext(stream)
    await stream.aclose()  # filterwarnings=error turns a leaked response into a failure
    assert first == data[: len(first)]
    # The store still works after abandoning a response half-read.
    assert await store.get_bytes("partial") == data


async def test_stat_reports_size_and_content_type(store: ObjectStore) -> None:
    await store.put_bytes("a/photo.webp", b"x" * 1000, content_type="image/webp")
    info = await store.stat("a/photo.webp")
    assert info.key == "a/photo.webp"
    assert info.size == 1000
    assert info.content_type == "image/webp"
    assert info.etag


async def test_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.get_bytes("nope/missing")
    with pytest.raises(ObjectNotFound):
        await store.stat("nope/missing")
    stream = store.stream("nope/missing")  # nothing happens until the first iteration
    with pytest.raises(ObjectNotFound):
        await anext(stream)
    await stream.aclose()


async def test_missing_key_error_is_not_found_for_the_gateway(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        await store.get_bytes("missing")
    assert caught.value.http_status == 404
    assert not caught.value.retryable


# --- deleting and listing -----------------------------------------------------------------


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.put_bytes("doomed", b"bye", content_type="text/plain")
    await store.delete("doomed")
    await store.delete("doomed")
    await store.delete("never/existed")
    with pytest.raises(ObjectNotFound):
        await store.stat("doomed")


async def test_delete_prefix_deletes_only_the_prefix(store: ObjectStore) -> None:
    keys = ["r/t/a/1", "r/t/a/2", "r/t/a/sub/3", "r/t/ab/4", "r/t/b/5", "r/t/a"]
    for key in keys[:-1]:
        await store.put_bytes(key, key.encode(), content_type="text/plain")

    assert await store.delete_prefix("r/t/a/") == 3
    assert await store.list_keys("") == ["r/t/ab/4", "r/t/b/5"]
    assert await store.delete_prefix("r/t/a/") == 0
    assert await store.get_bytes("r/t/ab/4") == b"r/t/ab/4"


async def test_delete_prefix_refuses_empty_prefix(store: ObjectStore) -> None:
    await store.put_bytes("keep", b"1", content_type="text/plain")
    with pytest.raises(InputError):
        await store.delete_prefix("")
    assert await store.list_keys("") == ["keep"]


async def test_delete_prefix_many_keys(store: ObjectStore) -> None:
    await asyncio.gather(
        *(store.put_bytes(f"many/{i:04d}", b"", content_type="text/plain") for i in range(30))
    )
    assert await store.delete_prefix("many/") == 30
    assert await store.list_keys("many/") == []


async def test_list_keys_sorted_and_by_prefix(store: ObjectStore) -> None:
    keys = ["p/image2", "p/image1", "p/other", "p/image1x", "p/sub/image1", "q/image1", "p/imag"]
    for key in random.Random(7).sample(keys, len(keys)):
        await store.put_bytes(key, b".", content_type="text/plain")

    assert await store.list_keys("") == sorted(keys)
    assert await store.list_keys("p/image") == ["p/image1", "p/image1x", "p/image2"]
    assert await store.list_keys("p/sub") == ["p/sub/image1"]
    assert await store.list_keys("p/") == sorted(k for k in keys if k.startswith("p/"))
    assert await store.list_keys("none/") == []


# --- failures leave nothing behind --------------------------------------------------------


async def test_failing_iterator_leaves_no_object(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    store, server, key = backend.store, server_for(backend, request), "originals/t/broken"

    async def failing() -> AsyncIterator[bytes]:
        async for chunk in chunked(body_of(6 * 1024 * 1024)):  # more than one part
            yield chunk
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        await store.put_stream(key, failing(), content_type="image/jpeg")

    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    assert await store.list_keys("") == []
    assert await leftovers(backend, server, key) == []


async def test_cancelled_upload_leaves_no_object(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    store, server, key = backend.store, server_for(backend, request), "originals/t/cancelled"
    halfway = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        async for chunk in chunked(body_of(6 * 1024 * 1024)):
            yield chunk
        halfway.set()
        await asyncio.Event().wait()  # the client stops sending
        yield b"never"

    task = asyncio.create_task(store.put_stream(key, stalls(), content_type="image/jpeg"))
    await asyncio.wait_for(halfway.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    with pytest.raises(ObjectNotFound):
        await store.stat(key)
    assert await leftovers(backend, server, key) == []


async def test_pending_upload_listing_sees_uploads(s3_server: S3Endpoint) -> None:
    """Guard for the two tests above: an unaborted upload does show up in the listing."""
    bucket = unique_bucket()
    async with raw_s3(s3_server) as client:
        await client.create_bucket(Bucket=bucket)
        upload = await client.create_multipart_upload(Bucket=bucket, Key="k")
        listing = await client.list_multipart_uploads(Bucket=bucket, Prefix="k")
        assert [u["UploadId"] for u in listing.get("Uploads", [])] == [upload["UploadId"]]
        await client.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload["UploadId"])


# --- presigned URLs -----------------------------------------------------------------------


async def test_presigned_get(backend: Backend) -> None:
    store = backend.store
    data = body_of(100_000)
    await store.put_bytes("shared/photo", data, content_type="image/jpeg")
    url = await store.presigned_get("shared/photo", expires_seconds=60)
    if backend.kind == "filesystem":
        assert url is None
        return
    assert url is not None
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/jpeg"
        assert await response.read() == data


# --- start-up checks ----------------------------------------------------------------------


async def test_check_missing_bucket(s3_server: S3Endpoint) -> None:
    bucket = unique_bucket()
    async with S3ObjectStore(s3_settings(s3_server, bucket, create_bucket=False)) as store:
        with pytest.raises(ConfigurationError, match=f"{bucket}.*does not exist"):
            await store.check()

    async with S3ObjectStore(s3_settings(s3_server, bucket, create_bucket=True)) as store:
        await store.check()
        await store.check()  # a second start finds the bucket there
        await store.put_bytes("k", b"v", content_type="text/plain")
        assert await store.get_bytes("k") == b"v"
        assert await store.list_keys("") == ["k"]  # the write probe cleaned up


async def test_check_bad_credentials(s3_server: S3Endpoint) -> None:
    if s3_server.kind == "moto":
        pytest.skip("moto does not check signatures")
    settings = s3_settings(s3_server, unique_bucket()).model_copy(
        update={"secret_access_key": "wrong-secret"}
    )
    async with S3ObjectStore(settings) as store:
        with pytest.raises(ConfigurationError, match="denied"):
            await store.check()


async def test_unreachable_endpoint_is_retryable_storage_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connection refused
        settings = S3Settings(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id="a",
            secret_access_key="b",
            max_attempts=1,
        )
        async with S3ObjectStore(settings, connect_timeout=2) as store:
            with pytest.raises(StorageError) as caught:
                await store.check()
            assert caught.value.retryable
            with pytest.raises(StorageError):
                await store.get_bytes("k")


@pytest.mark.parametrize("attempts", [1, 3])
async def test_max_attempts_is_the_number_of_tries_per_request(attempts: int) -> None:
    # A server that answers every request 503 (as an overloaded S3 does): each store call
    # is tried GALLERY_S3_MAX_ATTEMPTS times, then fails with a retryable StorageError.
    seen: list[str] = []

    async def unavailable(request: web.Request) -> web.Response:
        seen.append(request.method)
        return web.Response(status=503, text="<Error><Code>SlowDown</Code></Error>")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", unavailable)
    async with TestServer(app, host="127.0.0.1") as server:
        settings = S3Settings(
            endpoint=str(server.make_url("")).rstrip("/"),
            access_key_id="a",
            secret_access_key="b",
            max_attempts=attempts,
        )
        async with S3ObjectStore(settings) as store:
            with pytest.raises(StorageError) as caught:
                await store.get_bytes("k")
    assert caught.value.retryable
    assert seen == ["GET"] * attempts


async def test_check_filesystem_root_not_a_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    store = FilesystemObjectStore(blocker / "objects")
    with pytest.raises(ConfigurationError, match="not a writable folder"):
        await store.check()


async def test_filesystem_key_cannot_be_file_and_folder(tmp_path: Path) -> None:
    """S3 holds both "a" and "a/b"; a folder tree cannot, and says so instead of guessing."""
    store = FilesystemObjectStore(tmp_path / "objects")
    await store.put_bytes("a", b"1", content_type="text/plain")
    with pytest.raises(InputError, match="conflicts"):
        await store.put_bytes("a/b", b"2", content_type="text/plain")
    assert await store.list_keys("") == ["a"]
    assert [p.name for p in (tmp_path / "objects" / ".tmp").iterdir()] == []


# --- keys ---------------------------------------------------------------------------------

BAD_KEYS = [
    "",
    "../escape",
    "a/../../escape",
    "/etc/passwd",
    "a//b",
    "a/./b",
    ".meta/x",
    "a\\b",
    "x/",
]


async def test_keys_that_could_escape_are_refused(backend: Backend, tmp_path: Path) -> None:
    store = backend.store
    for key in BAD_KEYS:
        with pytest.raises(InputError):
            await store.put_bytes(key, b"evil", content_type="text/plain")
        with pytest.raises(InputError):
            await store.put_stream(key, chunked(b"evil"), content_type="text/plain")
        with pytest.raises(InputError):
            await store.get_bytes(key)
        with pytest.raises(InputError):
            await store.stat(key)
        with pytest.raises(InputError):
            await store.delete(key)
        with pytest.raises(InputError):
            await anext(store.stream(key))
    for prefix in ["../", "/etc", "a//"]:
        with pytest.raises(InputError):
            await store.list_keys(prefix)
        with pytest.raises(InputError):
            await store.delete_prefix(prefix)
    assert await store.list_keys("") == []
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path.parent / "escape").exists()
