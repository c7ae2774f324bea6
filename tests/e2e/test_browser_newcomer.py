"""The web page for a newcomer and a phone: the sign-in page says where the local key is, the
key is remembered per browser only when asked (and forgotten by Sign out), and at 360 and
390 px a tile's failure reason is whole and the album chips show that the row scrolls.
Screenshots land in .artifacts/ui (tests/e2e/browser_page.py)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import SettingsFactory
from tests.e2e.browser_page import (
    READY_MS,
    open_page,
    overflow,
    screenshot,
    showcase_jpeg,
    sign_in,
    tile,
    upload_named,
)
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from tests.images import gif_bytes, truncated_jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(), workers=1)


async def test_sign_in_names_the_local_key_and_remembers_only_when_asked(
    stack: Stack, browser: Browser
) -> None:
    key = await stack.api_key("alice")
    page = await open_page(browser, stack.url)
    await expect(page.locator("#signin")).to_contain_text(".gallery/api-key")
    await expect(page.get_by_label("Remember on this device")).not_to_be_checked()
    await sign_in(page, key)
    second = await page.context.new_page()  # a new tab of the same browser
    await second.goto(stack.url)
    await expect(second.get_by_label("API key")).to_be_visible()
    await second.close()

    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_label("API key").fill(key)
    await page.get_by_label("Remember on this device").check()
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    again = await page.context.new_page()
    await again.goto(stack.url)
    await expect(again.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(again.get_by_label("API key")).to_be_hidden()

    await again.get_by_role("button", name="Sign out").click()
    assert await again.evaluate("Object.keys(localStorage)") == [], "Sign out forgets the key"
    third = await page.context.new_page()
    await third.goto(stack.url)
    await expect(third.get_by_label("API key")).to_be_visible()


@pytest.mark.parametrize("width", [360, 390])
async def test_phone_shows_whole_failure_reasons_and_chips_that_scroll(
    stack: Stack, api_for: Any, browser: Browser, width: int
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    for index in range(3):
        await upload_named(api, f"IMG_{4100 + index}.jpg", showcase_jpeg(60 + index))
    await upload_named(api, "broken.jpg", truncated_jpeg_bytes(800, 600, keep=0.4))
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for name in ("Summer holiday 2026", "Grandparents visit", "Birthday party", "Hiking"):
            async with session.post(f"{stack.url}/v1/albums", json={"name": name}) as response:
                assert response.status == 201, await response.text()

    page = await open_page(browser, stack.url, viewport={"width": width, "height": 800}, phone=True)
    await sign_in(page, key)
    failed = tile(page, "broken.jpg")
    await expect(failed).to_have_attribute("data-status", "failed", timeout=READY_MS)
    await expect(page.locator(".tile.loaded")).to_have_count(3, timeout=READY_MS)
    reason = failed.locator(".failure")
    await expect(reason).to_contain_text("Failed: ")
    clipped = await reason.evaluate(
        "e => e.scrollHeight - e.clientHeight > 1 || e.scrollWidth - e.clientWidth > 1"
    )
    assert not clipped, await reason.text_content()

    chips = page.locator("#album-list")
    await expect(page.locator("#album-list .chip")).to_have_count(5)
    await expect(chips).to_have_attribute("data-more", "end")
    mask = await chips.evaluate(
        "e => getComputedStyle(e).maskImage || getComputedStyle(e).webkitMaskImage"
    )
    assert "gradient" in mask, "the edge with more chips fades"
    assert await overflow(page) <= 0
    await screenshot(page, f"phone-{width}-failure-and-albums")
    await chips.evaluate("e => e.scrollTo({left: e.scrollWidth})")
    await expect(chips).to_have_attribute("data-more", "start")


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
async def test_zooming_a_panorama_starts_centred_and_arrows_stay_off_the_details(
    stack: Stack, api_for: Any, browser: Browser, phone: bool
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    await upload_named(api, "before.jpg", showcase_jpeg(70))
    await upload_named(api, "pano.jpg", showcase_jpeg(71, 6000, 1000))
    await upload_named(api, "after.jpg", showcase_jpeg(72))
    await upload_named(api, "wave.gif", gif_bytes(200, 150, frames=4, seed=73))
    viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 800}
    page = await open_page(browser, stack.url, viewport=viewport, phone=phone)
    await sign_in(page, key)
    await expect(page.locator(".tile.loaded")).to_have_count(4, timeout=READY_MS)
    await expect(tile(page, "wave.gif").locator(".frames")).to_have_text("4 frames")
    await expect(tile(page, "pano.jpg").locator(".frames")).to_be_hidden()
    pano = tile(page, "pano.jpg")
    await expect(pano).to_have_class(re.compile("strip"))
    width = await pano.locator(".thumb").evaluate("img => img.naturalWidth")
    assert width > 1000, "a 6:1 panorama's tile shows all of it (the preview), not a square crop"
    await pano.locator(".tile-open").click()
    await expect(page.locator("#lightbox")).to_have_class(re.compile("painted"))
    await page.get_by_role("button", name="Zoom in").click()
    photo = page.locator("#lb-photo")
    await expect(photo).to_have_attribute("data-rendition", re.compile("large"))
    await expect(page.locator("#lightbox")).to_have_class(re.compile("painted"))
    # Wider than the stage at full size, and scrolled to its middle once painted.
    await page.wait_for_function(
        """() => {
          const s = document.querySelector(".lb-stage"), img = document.querySelector("#lb-photo");
          const room = s.scrollWidth - s.clientWidth;
          return img.complete && img.naturalWidth >= 2048 && room > 0
            && Math.abs(s.scrollLeft - room / 2) <= 2;
        }""",
        timeout=15_000,
    )
    side = await page.locator(".lb-side").bounding_box()
    for arrow in ("#lb-prev", "#lb-next"):
        box = await page.locator(arrow).bounding_box()
        assert box is not None
        assert side is not None
        apart = (
            box["x"] + box["width"] <= side["x"]
            or box["y"] + box["height"] <= side["y"]
            or box["x"] >= side["x"] + side["width"]
        )
        assert apart, f"{arrow} {box} covers the details {side}"
    await screenshot(page, f"{'phone' if phone else 'desktop'}-zoomed-panorama")
