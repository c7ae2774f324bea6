"""A resumable upload across two gateway processes, to a rendered image (tuspy, real servers)."""

from __future__ import annotations

import asyncio
import hashlib
import io

import pytest
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from pipeline.runtime.settings import TusSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
MiB = 1024 * 1024


class Sha256Uploader(Uploader):
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


async def test_upload_interrupted_at_60_percent_finishes_on_another_gateway_process(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings(tus=TusSettings(part_bytes=5 * MiB)))
    other_gateway = await stack.add_gateway()
    api = await api_for(stack, "alice")
    headers = {"Authorization": api.session.headers["Authorization"]}
    photo = jpeg_bytes(4000, 3000, quality=100)
    stop = int(len(photo) * 0.6)

    first = Sha256Uploader(
        file_stream=io.BytesIO(photo),
        client=TusClient(f"{stack.url}/v1/uploads", headers=headers),
        chunk_size=4 * MiB,
        metadata={"filename": "IMG_0001.jpg"},
        upload_checksum=True,
    )
    await asyncio.to_thread(first.upload, stop)
    assert first.url is not None
    # The first gateway goes away entirely; the client resumes on the other process.
    stack.stop_gateway()
    resumed = await asyncio.to_thread(
        Sha256Uploader,
        file_stream=io.BytesIO(photo),
        url=first.url.replace(stack.url, other_gateway),
        client=TusClient(f"{other_gateway}/v1/uploads", headers=headers),
        chunk_size=4 * MiB,
        upload_checksum=True,
    )
    assert resumed.offset == stop
    await asyncio.to_thread(resumed.upload)
    image_id = resumed.request.response_headers["gallery-image-id"]

    api.url = other_gateway
    ready = await api.wait_status(image_id, {"ready", "failed"}, timeout=120)
    assert ready["status"] == "ready", ready
    assert ready["sha256"] == hashlib.sha256(photo).hexdigest()
    assert ready["filename"] == "IMG_0001.jpg"
    status, original = await api.get(f"/v1/images/{image_id}/original")
    assert status == 200
    assert hashlib.sha256(original).hexdigest() == ready["sha256"]
