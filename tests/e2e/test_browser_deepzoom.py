"""The deep-zoom viewer in Chromium, at desktop and phone sizes: a 6000 x 1000 panorama opens
fitted and centred, zooms to its own pixels with keys, the mouse wheel or a pinch, pans with
arrows, a drag or a finger, and fetches only the tiles on screen (each once). Screenshots
land in .artifacts/ui (copied to docs/img for the README)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Request, expect

from pipeline.runtime.settings import LimitsSettings
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

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

WIDTH, HEIGHT = 6000, 1000
MAX_LEVEL = 13  # ceil(log2(6000))
TILES_AT_FULL_SIZE = 24 * 4  # ceil(6000 / 254) x ceil(1000 / 254)


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(limits=LimitsSettings(deep_zoom_min_side=2000)))


async def view(page: Page) -> dict[str, float]:
    """The viewer's state: scale, level, and the photo point at the viewport's centre."""
    state: dict[str, float] = await page.locator(".dz").evaluate(
        """root => {
          const box = root.getBoundingClientRect();
          const photo = root.querySelector(".dz-backdrop").getBoundingClientRect();
          const scale = Number(root.dataset.scale);
          return {
            scale, level: Number(root.dataset.level), tiles: Number(root.dataset.tiles),
            centreX: (box.width / 2 - (photo.left - box.left)) / scale,
            centreY: (box.height / 2 - (photo.top - box.top)) / scale,
            left: photo.left - box.left, top: photo.top - box.top,
            right: box.right - photo.right, bottom: box.bottom - photo.bottom,
          };
        }"""
    )
    return state


async def settled(page: Page) -> None:
    """Every tile the viewer wants for the current view has painted."""
    await page.wait_for_function(
        """() => {
          const root = document.querySelector(".dz");
          const wanted = Number(root.dataset.tiles), level = root.dataset.level;
          const painted = root.querySelectorAll(`.dz-tile.dz-loaded[data-key^="${level}/"]`);
          return wanted > 0 && painted.length >= wanted;
        }""",
        timeout=30_000,
    )


async def open_viewer(stack: Stack, api_for: Any, browser: Browser, phone: bool) -> Page:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    await upload_named(api, "harbour.jpg", showcase_jpeg(80))
    await upload_named(api, "pano.jpg", showcase_jpeg(81, WIDTH, HEIGHT))
    page = await open_page(browser, stack.url, viewport=PHONE if phone else DESKTOP, phone=phone)
    await sign_in(page, key)
    await expect(page.locator(".tile.loaded")).to_have_count(2, timeout=READY_MS)
    await tile(page, "pano.jpg").locator(".tile-open").click()
    await expect(page.locator("#lightbox")).to_have_class(re.compile("painted"))
    await page.get_by_role("button", name="Zoom in").click()
    await expect(page.locator(".dz")).to_be_visible()
    await expect(page.locator("#lightbox")).to_have_class(re.compile("deep"))
    await settled(page)
    return page


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
async def test_deep_zoom_starts_centred_and_reaches_full_resolution_with_keys(
    stack: Stack, api_for: Any, browser: Browser, phone: bool
) -> None:
    tile_requests: list[str] = []
    page = await open_viewer(stack, api_for, browser, phone)

    def count(request: Request) -> None:
        if "/tiles/" in request.url:
            tile_requests.append(request.url)

    page.on("request", count)
    start = await view(page)
    assert start["scale"] < 0.2, "the whole panorama fits the stage"
    assert abs(start["left"] - start["right"]) <= 2, "centred across"
    assert abs(start["top"] - start["bottom"]) <= 2, "centred down"
    assert start["centreX"] == pytest.approx(WIDTH / 2, abs=3)
    assert start["centreY"] == pytest.approx(HEIGHT / 2, abs=3)

    for _ in range(30):  # + zooms around the centre, up to past full resolution
        await page.keyboard.press("+")
        if (await view(page))["scale"] == 2:
            break
    await settled(page)
    full = await view(page)
    assert full["scale"] == 2
    assert full["level"] == MAX_LEVEL
    assert full["centreX"] == pytest.approx(WIDTH / 2, abs=3)
    assert full["centreY"] == pytest.approx(HEIGHT / 2, abs=3)
    assert 0 < full["tiles"] <= 12, "a viewport's worth of 512 px tiles"
    # Fetched: the tiles that were on screen at some step of the zoom, not the whole level.
    fetched = await page.locator(f'.dz-tile[data-key^="{MAX_LEVEL}/"]').count()
    assert fetched < TILES_AT_FULL_SIZE / 2, f"{fetched} of {TILES_AT_FULL_SIZE} full-size tiles"
    one = await page.locator(f'.dz-tile.dz-loaded[data-key^="{MAX_LEVEL}/"]').first.evaluate(
        "t => [t.naturalWidth, t.getBoundingClientRect().width]"
    )
    assert one[0] >= 255, "a full-size tile"
    assert abs(one[1] - 2 * one[0]) < 1, "shown at 200 %"
    await screenshot(page, f"{'phone' if phone else 'desktop'}-deep-zoom-full-size")

    await page.keyboard.press("ArrowRight")
    panned = await view(page)
    assert panned["centreX"] == pytest.approx(full["centreX"] + 80 / 2, abs=0.5)
    await page.keyboard.press("0")
    assert (await view(page))["scale"] == pytest.approx(start["scale"])
    await page.keyboard.press("-")  # never smaller than fitted
    assert (await view(page))["scale"] == pytest.approx(start["scale"])
    assert len(tile_requests) == len(set(tile_requests)), "no tile fetched twice"
    await page.keyboard.press("Escape")
    await expect(page.locator("#lightbox")).to_be_hidden()


async def test_deep_zoom_follows_the_mouse_wheel_and_a_drag(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    page = await open_viewer(stack, api_for, browser, phone=False)
    box = await page.locator(".dz").bounding_box()
    assert box is not None
    # Zoom with the wheel over the photo's left quarter: that point stays under the pointer.
    start = await view(page)
    x, y = box["x"] + box["width"] / 2 - 200, box["y"] + box["height"] / 2
    under = start["centreX"] - 200 / start["scale"]
    await page.mouse.move(x, y)
    for _ in range(4):
        await page.mouse.wheel(0, -400)
    zoomed = await view(page)
    assert zoomed["scale"] > 4 * start["scale"]
    still = zoomed["centreX"] - 200 / zoomed["scale"]
    assert abs(still - under) < 2, "the wheel zooms around the pointer"
    await page.mouse.down()
    await page.mouse.move(x - 150, y, steps=5)
    await page.mouse.up()
    dragged = await view(page)
    assert dragged["centreX"] == pytest.approx(zoomed["centreX"] + 150 / zoomed["scale"], abs=1)
    await settled(page)


async def test_deep_zoom_pinches_and_drags_on_a_phone(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    page = await open_viewer(stack, api_for, browser, phone=True)
    box = await page.locator(".dz").bounding_box()
    assert box is not None
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    start = await view(page)
    cdp = await page.context.new_cdp_session(page)

    async def touch(kind: str, *points: tuple[float, float]) -> None:
        await cdp.send(
            "Input.dispatchTouchEvent",
            {
                "type": kind,
                "touchPoints": [{"x": px, "y": py, "id": i} for i, (px, py) in enumerate(points)],
            },
        )

    # Two fingers 60 px apart spread to 240 px: four times the zoom, around their midpoint.
    await touch("touchStart", (cx - 30, cy), (cx + 30, cy))
    for spread in range(40, 130, 10):
        await touch("touchMove", (cx - spread, cy), (cx + spread, cy))
    await touch("touchEnd")
    pinched = await view(page)
    assert pinched["scale"] == pytest.approx(4 * start["scale"], rel=0.05)
    assert abs(pinched["centreX"] - start["centreX"]) < 3, "zoomed around the fingers"
    # One finger drags the photo along.
    await touch("touchStart", (cx, cy))
    for step in range(1, 6):
        await touch("touchMove", (cx - 20 * step, cy))
    await touch("touchEnd")
    dragged = await view(page)
    assert dragged["centreX"] == pytest.approx(pinched["centreX"] + 100 / pinched["scale"], abs=1)
    await settled(page)
    await screenshot(page, "phone-deep-zoom-pinched")
