"""Videos and motion photos in Chromium, under the gateway's Content-Security-Policy: the grid
marks a video with its duration and a motion photo with its badge; a motion photo plays its
motion on hover and on press; the lightbox plays a video (poster first, native controls) to
``readyState >= 3`` with the clip's duration, and no policy violation is reported."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests import images, videos
from tests.conftest import SettingsFactory
from tests.e2e.browser_page import (
    expect_ready,
    open_page,
    screenshot,
    sign_in,
    tile,
    upload_named,
)
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from tests.e2e.test_browser_csp import WATCH_VIOLATIONS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SECONDS = 3


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(), workers=1)


async def wait_playing(page: Page, selector: str) -> None:
    """The ``<video>`` at ``selector`` has enough data to play on (``readyState >= 3``,
    ``HAVE_FUTURE_DATA``) and is not paused."""
    await page.wait_for_function(
        "s => { const v = document.querySelector(s); return v && v.readyState >= 3 && !v.paused }",
        arg=selector,
        timeout=20_000,
    )


async def test_videos_and_motion_photos_play_in_the_grid_and_the_lightbox(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    api = await api_for(stack, "alice")
    clip = videos.clip("mov", "libx265", "aac", width=320, height=240, seconds=SECONDS, fps=15)
    await upload_named(api, "beach.mov", clip)
    motion_clip = videos.clip("mp4", "libx264", None, width=160, height=120, seconds=2)
    still = images.jpeg_bytes(400, 300, seed=3)
    await upload_named(api, "motion.jpg", videos.samsung_motion_photo(still, motion_clip))
    page = await open_page(browser, stack.url)
    await page.context.add_init_script(WATCH_VIOLATIONS)
    await page.reload()
    await sign_in(page, await stack.api_key("alice"))
    await expect_ready(page, "beach.mov", "motion.jpg")

    movie = tile(page, "beach.mov")
    await expect(movie).to_have_attribute("data-media", "video")
    await expect(movie.locator(".frames")).to_have_text(f"0:0{SECONDS}")
    motion = tile(page, "motion.jpg")
    await expect(motion).to_have_attribute("data-media", "motion")
    await expect(motion.locator(".frames")).to_have_text("Motion")

    # Hover plays the motion over the still; leaving stops it.
    await motion.hover()
    await expect(motion.locator("video.moving")).to_have_count(1)
    await wait_playing(page, '.tile[title="motion.jpg"] video.moving')
    await page.mouse.move(0, 0)
    await expect(motion.locator(".moving")).to_have_count(0)
    # A press (a phone has no hover) plays it too.
    await motion.locator(".tile-open").dispatch_event("pointerdown")
    await expect(motion.locator("video.moving")).to_have_count(1)
    await motion.locator(".tile-open").dispatch_event("pointerup")
    await expect(motion.locator(".moving")).to_have_count(0)

    # The lightbox plays the video: the poster first, native controls, the clip's duration.
    await movie.get_by_role("button").click()
    await expect(page.get_by_role("dialog", name="beach.mov")).to_be_visible()
    player = page.locator("#lb-video")
    await expect(player).to_be_visible()
    await expect(player).to_have_attribute("data-rendition", re.compile("/renditions/video/"))
    await expect(player).to_have_attribute("poster", re.compile("^blob:"))
    assert await player.evaluate("v => v.controls")
    await player.evaluate("v => v.play()")
    await wait_playing(page, "#lb-video")
    duration = await player.evaluate("v => v.duration")
    assert duration == pytest.approx(SECONDS, abs=0.25)
    await expect(page.locator('#lb-info dd[data-term="duration"]')).to_have_text(f"0:0{SECONDS}")
    await screenshot(page, "lightbox-video")

    # Stepping to the motion photo shows the still, and its motion on "Play motion".
    await page.get_by_role("button", name="Previous photo").click()  # the newer one
    await expect(page.get_by_role("dialog", name="motion.jpg")).to_be_visible()
    await expect(player).to_be_hidden()
    await expect(page.locator("#lb-photo")).to_have_attribute(
        "data-rendition", re.compile("preview")
    )
    await expect(page.locator('#lb-info dd[data-term="motion"]')).to_have_text(
        "Samsung motion photo · 0:02"
    )
    await page.get_by_role("button", name="Play motion").click()
    await expect(player).to_have_attribute("data-rendition", re.compile("/renditions/motion/"))
    await wait_playing(page, "#lb-video")

    violations = await page.evaluate("window.__cspViolations")
    assert violations == [], violations
