"""A person in a real browser (Debian's Chromium, headless): open the gallery with a key,
upload a photo with the file picker, watch it become ready, see another upload appear live."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
CHROMIUM = os.environ.get("GALLERY_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = os.environ.get("GALLERY_UI_SCREENSHOT")  # set to refresh docs/img/gallery-ui.png


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} missing: run scripts/browser.sh"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        await launched.close()


async def tile_statuses(page: Page) -> list[str]:
    return await page.locator(".tile").evaluate_all("tiles => tiles.map(t => t.dataset.status)")


async def test_browse_upload_and_live_updates(
    make_settings: SettingsFactory,
    start_stack: StackFactory,
    api_for,
    browser: Browser,
    tmp_path: Path,
) -> None:
    stack = await start_stack(make_settings(), workers=1)
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    photo = tmp_path / "harbour.jpg"
    photo.write_bytes(jpeg_bytes(1600, 1067, seed=21))

    page = await browser.new_page(viewport={"width": 1100, "height": 700})
    await page.goto(stack.url)
    await page.fill("#api-key", key)
    await page.click("#key-form button")
    await expect(page.locator("#drop")).to_be_visible()
    await expect(page.locator("#live")).to_be_visible()

    await page.set_input_files("#files", str(photo))
    tile = page.locator('.tile[title="harbour.jpg"]')
    await expect(tile).to_have_attribute("data-status", "ready", timeout=60_000)
    await expect(tile.locator("img")).to_have_attribute("src", re.compile(r"^blob:"))
    width = await tile.locator("img").evaluate("img => img.naturalWidth")
    assert width == 256, "the tile shows the 256 px thumb rendition"

    # Uploaded elsewhere (another device, the CLI): it appears without a reload, via SSE.
    _, doc = await api.upload(jpeg_bytes(900, 1200, seed=22))
    live_tile = page.locator(f'.tile[data-id="{doc["id"]}"]')
    await expect(live_tile).to_have_attribute("data-status", "ready", timeout=60_000)
    assert await tile_statuses(page) == ["ready", "ready"]

    await tile.click()
    await expect(page.locator("#viewer-img")).to_be_visible()
    assert "1600 x 1067" in await page.locator("#viewer-meta").inner_text()
    await page.locator("#viewer form button").click()
    await expect(page.locator("#viewer")).not_to_be_visible()
    if SCREENSHOT:
        await page.screenshot(path=SCREENSHOT)

    await page.fill("#api-key", "gk_wrong")
    await page.click("#key-form button")
    await expect(page.locator("#message")).to_have_text("invalid api key")
