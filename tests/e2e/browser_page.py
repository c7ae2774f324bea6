"""Helpers for the browser tests: Debian's Chromium through Playwright, the gallery page as a
person uses it (by labels and roles where the page has them), and screenshots kept as
artifacts under ``.artifacts/ui`` (or ``GALLERY_UI_ARTIFACTS``)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Locator, Page, async_playwright, expect

CHROMIUM = os.environ.get("GALLERY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("GALLERY_UI_ARTIFACTS", Path(__file__).parents[2] / ".artifacts" / "ui")
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
READY_MS = 60_000


@asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} missing: run scripts/browser.sh"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def open_page(
    browser: Browser,
    url: str,
    *,
    viewport: dict[str, int] = DESKTOP,
    config: dict[str, Any] | None = None,
    phone: bool = False,
) -> Page:
    """A fresh browser context on the gallery; ``config`` overrides the page's settings
    (``window.GALLERY_CONFIG``: pageSize, tusThresholdBytes, tusChunkBytes...)."""
    context = await browser.new_context(
        viewport=viewport, has_touch=phone, is_mobile=phone, accept_downloads=True
    )
    if config:
        await context.add_init_script(f"window.GALLERY_CONFIG = {json.dumps(config)};")
    page = await context.new_page()
    await page.goto(url)
    return page


async def sign_in(page: Page, key: str) -> None:
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")


def tile(page: Page, filename: str) -> Locator:
    return page.locator(f'.tile[title="{filename}"]')


async def expect_ready(page: Page, *filenames: str) -> None:
    """Each named tile is ready and its thumbnail has faded in."""
    for name in filenames:
        await expect(tile(page, name)).to_have_attribute("data-status", "ready", timeout=READY_MS)
        await expect(tile(page, name)).to_have_class("tile loaded", timeout=READY_MS)


async def overflow(page: Page) -> int:
    """How many CSS pixels the document is wider than the viewport (<= 0: nothing overflows)."""
    width: int = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return width


async def screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))  # Playwright creates the folder
    return path


async def tile_names(page: Page) -> list[str]:
    names: list[str] = await page.locator(".tile").evaluate_all("ts => ts.map(t => t.title)")
    return names
