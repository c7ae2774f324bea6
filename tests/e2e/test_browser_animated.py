"""Animated GIF/WebP in Chromium: the grid tile says it moves and plays on hover (desktop) or
focus; the lightbox plays the `animated` rendition at desktop and phone sizes and says how
long a loop takes. Screenshots land in .artifacts/ui (copied to docs/img for the README)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import pyvips
from playwright.async_api import Browser, Locator, expect

from tests.conftest import SettingsFactory
from tests.e2e.browser_page import (
    DESKTOP,
    PHONE,
    READY_MS,
    open_page,
    screenshot,
    showcase_jpeg,
    sign_in,
    tile,
    upload_named,
)
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from tests.images import scene

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

DELAYS = [300, 300, 300, 300, 600]


def bouncing_gif(width: int = 320, height: int = 240) -> bytes:
    """Five frames that differ at a glance (each a scene of its own), 1.8 s a loop."""
    pages = [scene(width, height, seed=90 + i) for i in range(len(DELAYS))]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", DELAYS)
    return bytes(strip.gifsave_buffer())


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings())


async def moves(target: Locator) -> bool:
    """Two pictures of ``target`` differ within a few loops: it plays."""
    first = await target.screenshot(animations="disabled")
    for _ in range(40):
        await asyncio.sleep(0.15)
        if await target.screenshot(animations="disabled") != first:
            return True
    return False


async def test_the_grid_tile_says_it_moves_and_plays_on_hover(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    api = await api_for(stack, "alice")
    await upload_named(api, "bounce.gif", bouncing_gif())
    await upload_named(api, "harbour.jpg", showcase_jpeg(91))
    page = await open_page(browser, stack.url, viewport=DESKTOP)
    await sign_in(page, await stack.api_key("alice"))
    await expect(page.locator(".tile.loaded")).to_have_count(2, timeout=READY_MS)
    gif = tile(page, "bounce.gif")
    await expect(gif).to_have_attribute("data-animated", "true")
    await expect(gif.locator(".frames")).to_have_text("5 frames")
    await expect(gif.locator(".frames")).to_have_attribute("title", "Animated: plays on hover")
    await expect(tile(page, "harbour.jpg").locator(".frames")).to_be_hidden()
    assert not await moves(gif), "still until pointed at"
    await gif.hover()
    await expect(gif).to_have_class(re.compile("playing"))
    await expect(gif.locator(".moving")).to_have_attribute("src", re.compile("^blob:"))
    assert await moves(gif), "plays on hover"
    await screenshot(page, "desktop-animated-hover")
    await page.mouse.move(0, 0)
    await expect(gif.locator(".moving")).to_have_count(0)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
async def test_the_lightbox_plays_the_animation(
    stack: Stack, api_for: Any, browser: Browser, phone: bool
) -> None:
    api = await api_for(stack, "alice")
    await upload_named(api, "bounce.gif", bouncing_gif())
    page = await open_page(browser, stack.url, viewport=PHONE if phone else DESKTOP, phone=phone)
    await sign_in(page, await stack.api_key("alice"))
    await expect(page.locator(".tile.loaded")).to_have_count(1, timeout=READY_MS)
    await tile(page, "bounce.gif").locator(".tile-open").click()
    photo = page.locator("#lb-photo")
    await expect(photo).to_have_attribute("data-rendition", re.compile("/renditions/animated/"))
    await expect(page.locator("#lightbox")).to_have_class(re.compile("painted"))
    await expect(page.locator('#lb-info dd[data-term="frames"]')).to_have_text(
        "5 (animated, 1.8 s a loop)"
    )
    assert await moves(photo), "the lightbox plays it"
    await screenshot(page, f"{'phone' if phone else 'desktop'}-animated-lightbox")
