"""A photo's whole path through the running system: gateway and worker processes on real servers."""

from __future__ import annotations

import asyncio

import pytest

from gallery.servers import ManagedProcess, start_nats
from pipeline.adapters.storage import open_object_store
from pipeline.runtime.settings import LimitsSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import (
    bright_corner,
    jpeg_bytes,
    png_bomb_bytes,
    png_bytes,
    sniffed,
    truncated_jpeg_bytes,
)
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXPECTED = {
    "thumb": ("image/webp", 256, 256),
    "preview": ("image/webp", 1280, 853),
    "large": ("image/jpeg", 2048, 1365),
}


async def test_upload_becomes_ready_with_every_rendition(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings())
    api = await api_for(stack, "alice")
    status, doc = await api.upload(jpeg_bytes(3000, 2000))
    assert status == 202, doc
    assert doc["status"] == "queued"
    assert (doc["width"], doc["height"]) == (3000, 2000)

    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert ready["thumbhash"]
    for name, (mime, width, height) in EXPECTED.items():
        info = ready["renditions"][name]
        assert (info["width"], info["height"]) == (width, height), name
        status, body = await api.get(info["url"])
        assert status == 200
        assert sniffed(body) == mime, name


async def test_exif_rotated_photo_comes_out_upright(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings())
    api = await api_for(stack, "alice")
    upright = jpeg_bytes(1200, 800)
    # Orientation 6: the camera stored it rotated; the viewer must turn it 90 degrees clockwise.
    _, doc = await api.upload(jpeg_bytes(1200, 800, orientation=6))  # stored as 800 x 1200
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    preview = ready["renditions"]["preview"]
    assert preview["width"] > preview["height"]
    _, body = await api.get(preview["url"])
    assert bright_corner(body) == bright_corner(upright)


async def test_duplicate_upload_returns_the_same_image(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings())
    api = await api_for(stack, "alice")
    photo = jpeg_bytes(640, 480, seed=7)
    status1, first = await api.upload(photo)
    status2, second = await api.upload(photo)
    assert (status1, status2) == (202, 200)
    assert second["id"] == first["id"]
    _, listing = await api.get("/v1/images")
    assert [item["id"] for item in listing["items"]] == [first["id"]]


async def test_bad_input_gets_clear_errors_and_the_gateway_stays_healthy(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    limits = LimitsSettings(max_upload_bytes=2_000_000, max_pixels=40_000_000)
    stack = await start_stack(make_settings(limits=limits))
    api = await api_for(stack, "alice")

    status, doc = await api.upload(b"x" * 3_000_000)
    assert status == 413, doc
    assert "2000000" in doc["error"]["message"]
    status, doc = await api.upload(b"%PDF-1.7 not a photo" * 10, "application/pdf")
    assert (status, doc["error"]["code"]) == (415, "unsupported_type")
    status, doc = await api.upload(b"")
    assert (status, doc["error"]["code"]) == (400, "empty")
    status, doc = await api.upload(png_bomb_bytes(50_000), "image/png")
    assert status == 422, doc
    assert doc["error"]["code"] == "too_many_pixels"

    status, doc = await api.upload(truncated_jpeg_bytes(1600, 1200))
    assert status == 202, doc
    failed = await api.wait_status(doc["id"], {"ready", "failed"})
    assert failed["status"] == "failed"
    assert failed["failure"], "a failed image says why"

    # Nothing of the refused uploads was stored: only the truncated one's original exists.
    async with open_object_store(stack.settings) as store:
        assert await store.list_keys("originals/") == [f"originals/alice/{doc['id']}"]
    status, _ = await api.get("/healthz")
    assert status == 200
    status, good = await api.upload(png_bytes(300, 200))
    assert status == 202
    assert (await api.wait_status(good["id"], {"ready", "failed"}))["status"] == "ready"


async def test_worker_killed_mid_job_still_yields_one_set_of_renditions(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings(), workers=1)
    api = await api_for(stack, "alice")
    _, doc = await api.upload(jpeg_bytes(6000, 4000, seed=3))
    await api.wait_status(doc["id"], {"processing", "ready"})
    stack.kill_worker(0)  # SIGKILL: no drain, no nak; JetStream must redeliver after ack_wait
    stack.add_worker()
    ready = await api.wait_status(doc["id"], {"ready", "failed"}, timeout=90)
    assert ready["status"] == "ready", ready
    async with open_object_store(stack.settings) as store:
        keys = await store.list_keys(f"renditions/alice/{doc['id']}/")
    assert sorted(k.rsplit("/", 1)[1].split("-")[0] for k in keys) == ["large", "preview", "thumb"]


async def test_nats_restart_mid_run_loses_nothing(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for, nats_server: ManagedProcess
) -> None:
    stack = await start_stack(make_settings(), workers=1)
    api = await api_for(stack, "alice")
    ids = []
    for seed in range(3):
        _, doc = await api.upload(jpeg_bytes(800, 600, seed=seed))
        ids.append(doc["id"])
    nats_server.stop()
    # Uploads while the bus is down are still accepted: the document is the outbox.
    for seed in range(3, 5):
        status, doc = await api.upload(jpeg_bytes(800, 600, seed=seed))
        assert status == 202, doc
        ids.append(doc["id"])
    restarted = start_nats(nats_server.log_path.parent, port=nats_server.port)
    try:
        for image_id in ids:
            done = await api.wait_status(image_id, {"ready", "failed"}, timeout=90)
            assert done["status"] == "ready", done
    finally:
        stack.stop()
        restarted.stop()


async def test_tenants_cannot_see_each_others_images(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings())
    alice = await api_for(stack, "alice")
    bob = await api_for(stack, "bob")
    _, doc = await alice.upload(jpeg_bytes(400, 300))
    await alice.wait_status(doc["id"], {"ready"})
    image = f"/v1/images/{doc['id']}"

    assert (await bob.get(image))[0] == 404
    assert (await bob.get(f"{image}/renditions/thumb"))[0] == 404
    assert (await bob.get(f"{image}/original"))[0] == 404
    assert (await bob.get("/v1/images"))[1]["items"] == []
    assert await bob.delete(image) == 404
    assert (await alice.get(image))[0] == 200

    assert await alice.delete(image) == 204
    assert (await alice.get(image))[0] == 404
    trash = (await alice.get("/v1/trash"))[1]["items"]
    assert [i["id"] for i in trash] == [doc["id"]], "a delete moves the photo to the trash"
    assert await bob.delete("/v1/trash") == 200
    assert await alice.delete("/v1/trash") == 200, "emptied: deleted for good"
    async with open_object_store(stack.settings) as store:
        # The objects follow through the worker's cleanup lane (docs/api.md, DELETE), not
        # within the DELETE itself.
        async def objects_gone() -> bool:
            renditions = await store.list_keys(f"renditions/alice/{doc['id']}/")
            return renditions + await store.list_keys(f"originals/alice/{doc['id']}") == []

        await eventually(objects_gone, "the cleanup lane removes the original and renditions")


async def test_requests_without_a_valid_key_are_refused(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    import aiohttp

    stack = await start_stack(make_settings())
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{stack.url}/v1/images") as response:
            assert response.status == 401
        async with anonymous.get(
            f"{stack.url}/v1/images", headers={"Authorization": "Bearer gk_nope"}
        ) as response:
            assert response.status == 401
    await asyncio.sleep(0)
