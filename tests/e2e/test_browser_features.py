"""The page's parts that need the features API (issue 10, /work/briefs/api-contract.md):
albums, resumable tus uploads, and event replay with Last-Event-ID. Each test checks first
that the gateway offers the feature and fails with a plain message when it does not."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Request, Route, expect

from tests.conftest import SettingsFactory
from tests.e2e.browser_page import (
    READY_MS,
    EventStreamCutter,
    expect_ready,
    open_page,
    screenshot,
    showcase_jpeg,
    sign_in,
    tile_names,
    upload_named,
)
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
async def cutter(stack: Stack) -> AsyncIterator[EventStreamCutter]:
    proxy = EventStreamCutter(stack.port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(), workers=1)


async def require(stack: Stack, key: str, method: str, path: str, feature: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.request(method, f"{stack.url}{path}") as response,
    ):
        assert response.status not in {404, 405}, f"the gateway has no {feature} yet"


async def test_albums_create_add_two_selected_browse_and_rename(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    await require(stack, key, "GET", "/v1/albums", "albums (GET /v1/albums)")
    docs = []
    for index in range(5):
        doc = await upload_named(api, f"IMG_{3100 + index}.jpg", showcase_jpeg(30 + index))
        docs.append(await api.wait_status(doc["id"], {"ready"}))
    page = await open_page(browser, stack.url)
    await sign_in(page, key)
    await expect(page.locator(".tile.loaded")).to_have_count(5, timeout=READY_MS)

    await page.get_by_role("button", name="New album").click()
    await page.get_by_role("dialog", name="New album").get_by_label("Album name").fill("Holiday")
    await page.get_by_role("dialog", name="New album").get_by_role("button", name="Create").click()
    chip = page.locator(".chip", has_text="Holiday")
    await expect(chip).to_be_visible()

    chosen = [docs[1]["id"], docs[3]["id"]]
    for image_id in chosen:
        await page.locator(f'.tile[data-id="{image_id}"] .tile-select').check()
    await expect(page.locator("#selection-count")).to_have_text("2 selected")
    await screenshot(page, "desktop-selection")
    await page.get_by_label("Album to add the selected photos to").select_option(label="Holiday")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(page.locator("#toast")).to_have_text("Added 2 photos to Holiday")
    await expect(chip.locator(".chip-count")).to_have_text("2")

    await chip.click()
    await expect(page.get_by_role("heading", name="Holiday")).to_be_visible()
    await expect(page.locator(".tile")).to_have_count(2)
    shown = await page.locator(".tile").evaluate_all("ts => ts.map(t => t.dataset.id)")
    assert sorted(shown) == sorted(chosen)
    await screenshot(page, "desktop-album")

    await page.get_by_role("button", name="Rename").click()
    rename = page.get_by_role("dialog", name="Rename album")
    await rename.get_by_label("Album name").fill("Summer")
    await rename.get_by_role("button", name="Rename").click()
    await expect(page.get_by_role("heading", name="Summer")).to_be_visible()
    await expect(page.locator(".chip", has_text="Summer")).to_be_visible()

    _, albums = await api.get("/v1/albums")
    assert [(a["name"], a["image_count"]) for a in albums["items"]] == [("Summer", 2)]
    await page.locator(".chip", has_text="All photos").click()
    await expect(page.locator(".tile")).to_have_count(5)


async def test_tus_upload_resumes_after_the_connection_drops(
    stack: Stack, api_for: Any, browser: Browser, tmp_path: Path
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    await require(stack, key, "OPTIONS", "/v1/uploads", "tus (OPTIONS /v1/uploads)")
    big = tmp_path / "panorama.jpg"
    big.write_bytes(jpeg_bytes(3000, 1500, seed=130, quality=95))
    chunk = 64 * 1024
    assert big.stat().st_size > 4 * chunk
    page = await open_page(
        browser, stack.url, config={"tusThresholdBytes": 1024, "tusChunkBytes": chunk}
    )
    seen: list[tuple[str, str]] = []
    patches = 0

    async def drop_the_third_patch(route: Route, request: Request) -> None:
        nonlocal patches
        if request.method == "PATCH":
            patches += 1
            if patches == 3:
                await route.abort("connectionreset")
                return
        await route.continue_()

    page.on("request", lambda r: seen.append((r.method, r.headers.get("upload-offset", ""))))
    await page.route(re.compile(r"/v1/uploads/"), drop_the_third_patch)
    await sign_in(page, key)
    await page.set_input_files("#files", str(big))

    row = page.locator("#uploads li")
    await expect(row).to_have_attribute("data-state", "ready", timeout=READY_MS)
    await expect(row).to_have_attribute("data-via", "tus")
    await expect(row).to_have_attribute("data-resumes", "1")
    await expect(row).to_have_attribute("data-resumed-at", str(2 * chunk))
    await expect(row.locator(".upload-state")).to_have_text(re.compile(r"\(resumed at 131 KB\)"))
    await expect_ready(page, "panorama.jpg")
    methods = [method for method, _ in seen if method in {"POST", "HEAD", "PATCH"}]
    after_drop = methods[methods.index("PATCH") + 2 :]
    assert after_drop[:2] == ["PATCH", "HEAD"], methods  # the dropped PATCH, then "how far?"
    resumed_at = [offset for method, offset in seen if method == "PATCH"][3]
    assert resumed_at == str(2 * chunk), seen  # continued where the server was, not at 0
    _, listing = await api.get("/v1/images")
    [doc] = listing["items"]
    assert doc["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
    assert await tile_names(page) == ["panorama.jpg"]


async def test_event_stream_resumes_with_last_event_id_after_a_drop(
    stack: Stack, api_for: Any, browser: Browser, cutter: EventStreamCutter
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    page = await open_page(browser, cutter.url)
    reconnects: list[str] = []
    page.on(
        "request",
        lambda r: (
            reconnects.append(r.headers.get("last-event-id", ""))
            if r.url.endswith("/v1/events")
            else None
        ),
    )
    await sign_in(page, key)
    _, first = await api.upload(jpeg_bytes(640, 480, seed=140))
    await expect(page.locator(f'.tile[data-id="{first["id"]}"]')).to_have_attribute(
        "data-status", "ready", timeout=READY_MS
    )

    cutter.cut()
    await expect(page.locator("#live")).to_have_attribute("data-state", "offline")
    _, missed = await api.upload(jpeg_bytes(640, 480, seed=141))
    await api.wait_status(missed["id"], {"ready"})
    cutter.restore()  # the page retries with backoff (at most 10 s apart)
    await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=20_000)
    await expect(page.locator(f'.tile[data-id="{missed["id"]}"]')).to_have_attribute(
        "data-status", "ready"
    )
    assert reconnects[0] == "", "the first connection has nothing to resume"
    assert reconnects[-1] != "", f"the reconnection sent no Last-Event-ID: {reconnects}"
