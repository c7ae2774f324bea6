"""A person in a real browser (Debian's Chromium, headless, through Playwright) using the
gallery page against the whole system: sign-in, uploads through the file picker, the live
grid, the lightbox, deleting, infinite scroll, a phone-sized screen and a dropped event
stream. Screenshots land in .artifacts/ui (see tests/e2e/browser_page.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Route, expect

from pipeline.imaging.thumbhash import encode_base64, rgba_to_thumbhash
from tests.conftest import SettingsFactory
from tests.e2e.browser_page import (
    PHONE,
    READY_MS,
    EventStreamCutter,
    expect_ready,
    open_page,
    overflow,
    screenshot,
    showcase_jpeg,
    sign_in,
    tile,
    tile_names,
    upload_named,
)
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from tests.images import jpeg_bytes, truncated_jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
LIBRARY = 10  # photos in the phone/desktop library test


@pytest.fixture
async def cutter(stack: Stack) -> AsyncIterator[EventStreamCutter]:
    proxy = EventStreamCutter(stack.port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(), workers=1)


def photos(folder: Path, count: int, *, camera: bool = False) -> list[Path]:
    paths = []
    for index in range(count):
        path = folder / f"photo-{index + 1}.jpg"
        path.write_bytes(jpeg_bytes(1200 + 100 * index, 800, seed=40 + index, camera=camera))
        paths.append(path)
    return paths


async def test_bad_key_is_refused_then_sign_in_replaces_the_key_field_until_sign_out(
    stack: Stack, browser: Browser
) -> None:
    key = await stack.api_key("alice")
    page = await open_page(browser, stack.url)

    await page.get_by_label("API key").fill("gk_wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#signin-error")).to_have_text(re.compile("not accepted"))
    assert await page.evaluate("sessionStorage.length") == 0, "a refused key is not kept"

    await sign_in(page, key)
    await expect(page.get_by_label("API key")).to_be_hidden()
    assert await page.evaluate("sessionStorage.getItem('gallery.apiKey')") == key
    assert await page.evaluate("localStorage.length") == 0, "the key never outlives the tab"

    await page.reload()  # same tab: still signed in
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.get_by_label("API key")).to_be_hidden()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    await expect(page.get_by_label("API key")).to_be_focused()
    assert await page.evaluate("sessionStorage.length") == 0


async def test_upload_three_photos_watch_them_turn_ready_step_through_and_delete_one(
    stack: Stack, api_for: Any, browser: Browser, tmp_path: Path
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    files = photos(tmp_path, 3, camera=True)
    # One upload at a time, so the grid's order (newest first) is the files' order reversed.
    page = await open_page(browser, stack.url, config={"uploadConcurrency": 1})
    await sign_in(page, key)
    await expect(page.get_by_role("heading", name="No photos here yet")).to_be_visible()

    await page.set_input_files("#files", [str(p) for p in files])
    rows = page.locator("#uploads li")
    await expect(rows).to_have_count(3)
    for index in range(3):  # each row went from bytes to processing to ready by itself
        await expect(rows.nth(index)).to_have_attribute("data-state", "ready", timeout=READY_MS)
        await expect(rows.nth(index).locator("progress")).to_have_attribute(
            "value", str(files[index].stat().st_size)
        )
    await expect_ready(page, "photo-1.jpg", "photo-2.jpg", "photo-3.jpg")
    assert await tile_names(page) == ["photo-3.jpg", "photo-2.jpg", "photo-1.jpg"]
    placeholder = tile(page, "photo-1.jpg").locator(".placeholder")
    await expect(placeholder).to_have_attribute("src", re.compile(r"^data:image/png"))
    assert await tile(page, "photo-1.jpg").locator(".thumb").evaluate("i => i.naturalWidth") > 0
    await screenshot(page, "desktop-grid")
    await step_through_the_lightbox(page, files, tmp_path)
    await delete_with_confirmation(page)
    _, listing = await api.get("/v1/images")
    assert sorted(item["filename"] for item in listing["items"]) == ["photo-1.jpg", "photo-3.jpg"]


async def step_through_the_lightbox(page: Page, files: list[Path], tmp_path: Path) -> None:
    """Preview at once, metadata, arrow keys, zoom to large, download, Escape."""
    await tile(page, "photo-2.jpg").get_by_role("button").click()
    dialog = page.get_by_role("dialog", name="photo-2.jpg")
    await expect(dialog).to_be_visible()
    photo = page.locator("#lb-photo")
    await expect(photo).to_have_attribute("data-rendition", re.compile("preview"))
    info = page.locator("#lb-info")
    await expect(info.locator("dd[data-term=camera]")).to_have_text("GalleryCam GC-1 Mk II")
    await expect(info.locator("dd[data-term=taken]")).to_contain_text("2024")
    await expect(info.locator("dd[data-term=size]")).to_contain_text("1300 \u00d7 800")
    await screenshot(page, "desktop-lightbox")
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("dialog", name="photo-1.jpg")).to_be_visible()
    await expect(page.get_by_role("button", name="Next photo")).to_be_disabled()
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("ArrowLeft")
    await expect(page.get_by_role("dialog", name="photo-3.jpg")).to_be_visible()
    await page.get_by_role("button", name="Zoom in").click()
    await expect(photo).to_have_attribute("data-rendition", re.compile("large"))
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download original").click()
    download = await download_info.value
    assert download.suggested_filename == "photo-3.jpg"
    saved = tmp_path / "downloaded.jpg"
    await download.save_as(saved)
    assert saved.read_bytes() == files[2].read_bytes()
    await page.keyboard.press("Escape")
    await expect(page.locator("#lightbox")).to_be_hidden()


async def delete_with_confirmation(page: Page) -> None:
    """Delete asks first; Cancel keeps the photo, Delete removes it and shows the next."""
    await tile(page, "photo-2.jpg").get_by_role("button").click()
    await page.get_by_role("button", name="Delete photo").click()
    confirm = page.get_by_role("dialog", name="Delete photo?")
    await expect(confirm).to_be_visible()
    await expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_role("dialog", name="photo-2.jpg")).to_be_visible()
    await page.get_by_role("button", name="Delete photo").click()
    await confirm.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("dialog", name="photo-1.jpg")).to_be_visible()  # next one
    await page.keyboard.press("Escape")
    await expect(tile(page, "photo-2.jpg")).to_have_count(0)
    assert await tile_names(page) == ["photo-3.jpg", "photo-1.jpg"]


async def test_a_broken_photo_shows_why_it_failed(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    key = await stack.api_key("alice")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(truncated_jpeg_bytes(800, 600, keep=0.4))
    page = await open_page(browser, stack.url)
    await sign_in(page, key)
    await page.set_input_files("#files", str(broken))
    failed = tile(page, "broken.jpg")
    await expect(failed).to_have_attribute("data-status", "failed", timeout=READY_MS)
    await expect(failed.locator(".failure")).to_contain_text("Failed: ")
    await expect(page.locator("#uploads li")).to_have_attribute("data-state", "failed")


async def test_large_files_fall_back_to_one_post_when_the_server_has_no_tus(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    key = await stack.api_key("alice")
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_bytes(2400, 1600, seed=5, quality=95))
    page = await open_page(browser, stack.url, config={"tusThresholdBytes": 1000})

    async def no_tus(route: Route) -> None:
        await route.fulfill(status=404, json={"error": {"code": "http", "message": "Not Found"}})

    await page.route("**/v1/uploads**", no_tus)
    await sign_in(page, key)
    await page.set_input_files("#files", str(big))
    row = page.locator("#uploads li")
    await expect(row).to_have_attribute("data-state", "ready", timeout=READY_MS)
    await expect(row).to_have_attribute("data-via", "post")
    await expect_ready(page, "big.jpg")


async def test_infinite_scroll_reads_every_page_with_the_cursor(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    ids = []
    for index in range(24):
        status, doc = await api.upload(jpeg_bytes(96, 64, seed=70 + index))
        assert status == 202, doc
        ids.append(doc["id"])
    page = await open_page(
        browser,
        stack.url,
        viewport={"width": 1280, "height": 600},
        config={"pageSize": 6, "scrollMarginPx": 0},
    )
    cursors: list[str] = []
    page.on(
        "request",
        lambda r: cursors.append(r.url) if "/v1/images?" in r.url and "cursor=" in r.url else None,
    )
    await sign_in(page, key)
    tiles = page.locator(".tile")
    await expect(page.locator("#sentinel")).to_have_attribute("data-loading", "false")
    count = await tiles.count()
    assert 6 <= count < 24, "the first screen does not load everything"
    while count < 24:  # scroll like a reader: each time the bottom shows, one more page
        await page.mouse.wheel(0, 3000)
        await expect(tiles).not_to_have_count(count)
        count = await tiles.count()
    await expect(tiles).to_have_count(24)
    shown = await tiles.evaluate_all("ts => ts.map(t => t.dataset.id)")
    assert shown == sorted(ids, reverse=True), "newest first, each photo once"
    assert len(set(cursors)) == 3, cursors  # 24 photos, 6 a page: three more pages


async def test_phone_width_nothing_overflows_and_every_control_is_reachable(
    stack: Stack, api_for: Any, browser: Browser, tmp_path: Path
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    for index in range(LIBRARY):
        width, height = (1000, 1500) if index % 4 == 1 else (1500, 1000)
        await upload_named(api, f"IMG_{2040 + index}.jpg", showcase_jpeg(index, width, height))
    page = await open_page(browser, stack.url, viewport=PHONE, phone=True)
    assert await overflow(page) <= 0, "sign-in screen"
    await screenshot(page, "phone-signin")
    await sign_in(page, key)
    await expect(page.get_by_label("API key")).to_be_hidden()
    await expect(page.locator(".tile.loaded")).to_have_count(LIBRARY, timeout=READY_MS)
    picked = tmp_path / f"IMG_{2040 + LIBRARY}.jpg"
    picked.write_bytes(showcase_jpeg(LIBRARY))
    await page.set_input_files("#files", str(picked))
    await expect(page.locator("#uploads li")).to_have_attribute(
        "data-state", "ready", timeout=READY_MS
    )
    assert await overflow(page) <= 0, "grid with the upload tray"
    await screenshot(page, "phone-grid")

    reached = await tab_through(page)
    for control in ["upload-button", "signout", "uploads-clear"]:
        assert control in reached, f"#{control} not reachable by Tab: {reached}"
    assert reached.count("tile-open") == LIBRARY + 1, reached
    assert reached.count("tile-select") == LIBRARY + 1, reached
    await assert_on_screen(page, "header button, #uploads button, .tile-open")

    await page.locator(".tile-select").first.check()
    await expect(page.get_by_role("region", name="Selected photos")).to_be_visible()
    assert await overflow(page) <= 0, "selection bar"
    await assert_on_screen(page, "#selection button")
    await page.get_by_role("button", name="Clear selection").click()

    await page.locator(".tile-open").nth(2).click()
    await expect(page.locator("#lightbox")).to_have_class(re.compile("painted"))
    assert await overflow(page) <= 0, "lightbox"
    await assert_on_screen(page, "#lightbox .lb-bar button, #lightbox .lb-nav:not(:disabled)")
    await screenshot(page, "phone-lightbox")
    await page.get_by_role("button", name="Close").click()
    await expect(page.locator("#lightbox")).to_be_hidden()

    # The same library on a desktop screen (a mouse, no touch), for the README.
    desktop = await open_page(browser, stack.url)
    await sign_in(desktop, key)
    await expect(desktop.locator(".tile.loaded")).to_have_count(LIBRARY + 1, timeout=READY_MS)
    assert await overflow(desktop) <= 0, "desktop grid"
    await screenshot(desktop, "desktop-library")
    await desktop.locator(".tile-open").nth(3).click()
    await expect(desktop.locator("#lightbox")).to_have_class(re.compile("painted"))
    await screenshot(desktop, "desktop-library-lightbox")


async def tab_through(page: Page, limit: int = 80) -> list[str]:
    """Press Tab from the top of the page and name each focused control (id or class)."""
    await page.evaluate("document.activeElement.blur()")
    reached: list[str] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        name = await page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e.id || e.className || e.tagName; })()"
        )
        if reached and name == reached[0]:
            break
        reached.append(name)
    return reached


async def assert_on_screen(page: Page, selector: str) -> None:
    """Every visible control in ``selector`` lies inside the viewport's width."""
    boxes = await page.locator(selector).evaluate_all(
        "es => es.filter(e => e.offsetParent !== null || getComputedStyle(e).position === 'fixed')"
        ".map(e => { const r = e.getBoundingClientRect();"
        " return [e.id || e.className, r.left, r.right, r.width]; })"
    )
    width = await page.evaluate("window.innerWidth")
    assert boxes, selector
    for name, left, right, box_width in boxes:
        assert box_width > 0, name
        assert 0 <= left <= right <= width, (name, left, right, width)


async def test_cut_event_stream_reconnects_and_the_grid_catches_up(
    stack: Stack, api_for: Any, browser: Browser, cutter: EventStreamCutter
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    _, gone = await api.upload(jpeg_bytes(640, 480, seed=11))
    await api.wait_status(gone["id"], {"ready"})
    page = await open_page(browser, cutter.url)
    await sign_in(page, key)
    await expect(page.locator(f'.tile[data-id="{gone["id"]}"]')).to_have_class("tile loaded")

    # The stream drops mid-way, and every reconnection attempt fails until restore().
    cutter.cut()
    await expect(page.locator("#live")).to_have_attribute("data-state", "offline")
    _, missed = await api.upload(jpeg_bytes(640, 480, seed=12))
    await api.wait_status(missed["id"], {"ready"})
    assert await api.delete(f"/v1/images/{gone['id']}") == 204

    cutter.restore()  # the page retries with backoff (at most 10 s apart)
    await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=20_000)
    caught_up = page.locator(f'.tile[data-id="{missed["id"]}"]')
    await expect(caught_up).to_have_attribute("data-status", "ready")
    await expect(caught_up).to_have_class("tile loaded")
    await expect(page.locator(f'.tile[data-id="{gone["id"]}"]')).to_have_count(0)

    # And it is live again: a photo uploaded now appears without a reload.
    _, live = await api.upload(jpeg_bytes(640, 480, seed=13))
    await expect(page.locator(f'.tile[data-id="{live["id"]}"]')).to_have_attribute(
        "data-status", "ready", timeout=READY_MS
    )


THUMBHASH_REFERENCE = (
    Path(os.environ.get("GALLERY_NPM_CACHE", Path.home() / ".cache/gallery-pipeline/npm"))
    / "node_modules/thumbhash/thumbhash.js"
)
DECODE_WITH_REFERENCE = """
import { thumbHashToRGBA } from %s;
let input = "";
for await (const chunk of process.stdin) input += chunk;
process.stdout.write(JSON.stringify(JSON.parse(input).map((hash) => {
  const { w, h, rgba } = thumbHashToRGBA(Buffer.from(hash, "base64"));
  return [w, h, Buffer.from(rgba).toString("base64")];
})));
"""


def decode_with_reference(hashes: list[str]) -> list[list[Any]]:
    """[w, h, rgba base64] for each hash, decoded by the npm thumbhash package in Node."""
    node = shutil.which("node")
    assert node is not None, "node is missing"
    assert THUMBHASH_REFERENCE.exists(), f"{THUMBHASH_REFERENCE} missing: run scripts/npm.sh"
    done = subprocess.run(
        [
            node,
            "--input-type=module",
            "-e",
            DECODE_WITH_REFERENCE % json.dumps(THUMBHASH_REFERENCE.as_uri()),
        ],
        input=json.dumps(hashes),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    decoded: list[list[Any]] = json.loads(done.stdout)
    return decoded


async def test_the_page_decodes_thumbhashes_exactly_like_the_reference(browser: Browser) -> None:
    """gateway/static/thumbhash.js in Chromium against the npm package (evanw) in Node."""
    rng = random.Random(7)
    sizes = [(32, 32), (32, 18), (18, 32), (32, 9), (7, 32), (1, 1)]
    hashes = [
        encode_base64(rgba_to_thumbhash(w, h, rng.randbytes(w * h * 4))) for w, h in sizes
    ] + [
        encode_base64(rgba_to_thumbhash(w, h, bytes([200, 90, 30, 255] * w * h))) for w, h in sizes
    ]
    expected = await asyncio.to_thread(decode_with_reference, hashes)

    static = Path(__file__).parents[2] / "gateway" / "static"
    page = await browser.new_page()

    async def serve(route: Route) -> None:
        name = route.request.url.rsplit("/", 1)[-1] or "index.html"
        kind = "text/javascript" if name.endswith(".js") else "text/html"
        body = (static / name).read_text() if name.endswith(".js") else "<!doctype html>"
        await route.fulfill(status=200, content_type=kind, body=body)

    await page.route("http://gallery.test/**", serve)
    await page.goto("http://gallery.test/")
    decoded = await page.evaluate(
        """async (hashes) => {
          const { thumbHashToRGBA, base64ToBytes } = await import("/static/thumbhash.js");
          return hashes.map((hash) => {
            const { w, h, rgba } = thumbHashToRGBA(base64ToBytes(hash));
            return [w, h, btoa(String.fromCharCode(...rgba))];
          });
        }""",
        hashes,
    )
    assert decoded == expected


async def test_drop_photos_anywhere_browse_with_the_keyboard_then_delete_both(
    stack: Stack, browser: Browser
) -> None:
    key = await stack.api_key("alice")
    page = await open_page(browser, stack.url)
    await sign_in(page, key)
    files = [[f"drop-{i}.jpg", base64.b64encode(showcase_jpeg(20 + i)).decode()] for i in range(2)]
    await page.evaluate(
        """(files) => {
          const dt = new DataTransfer();
          for (const [name, data] of files) {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], name, { type: "image/jpeg" }));
          }
          window.dropped = dt;
          const enter = new DragEvent("dragenter", { dataTransfer: dt, bubbles: true });
          document.body.dispatchEvent(enter);
        }""",
        files,
    )
    await expect(page.get_by_text("Drop photos to upload")).to_be_visible()
    await page.evaluate(
        "document.querySelector('#grid').dispatchEvent("
        "new DragEvent('drop', { dataTransfer: window.dropped, bubbles: true, cancelable: true }))"
    )
    await expect(page.get_by_text("Drop photos to upload")).to_be_hidden()
    await expect(page.locator("#uploads li")).to_have_count(2)
    await expect_ready(page, "drop-0.jpg", "drop-1.jpg")

    # Keyboard only. Signing in put the focus on Upload; before it comes the skip link.
    await page.get_by_role("button", name="Upload photos").focus()
    await page.keyboard.press("Shift+Tab")
    await expect(page.get_by_role("link", name="Skip to photos")).to_be_focused()
    await expect(page.get_by_role("link", name="Skip to photos")).to_be_in_viewport()
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.className") == "tile-open":
            break
    opener = page.locator(".tile-open").first
    await expect(opener).to_be_focused()
    await page.keyboard.press("Enter")
    first = await page.locator(".tile").first.get_attribute("title")
    await expect(page.get_by_role("dialog", name=first or "")).to_be_visible()
    await page.keyboard.press("ArrowRight")
    second = await page.locator(".tile").nth(1).get_attribute("title")
    await expect(page.get_by_role("dialog", name=second or "")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#lightbox")).to_be_hidden()
    await expect(opener).to_be_focused()

    # Tick both and delete them together, after a confirmation.
    for check in await page.locator(".tile-select").all():
        await check.check()
    await expect(page.locator("#selection-count")).to_have_text("2 selected")
    await (
        page.get_by_role("region", name="Selected photos")
        .get_by_role("button", name="Delete")
        .click()
    )
    await (
        page.get_by_role("dialog", name="Delete 2 photos?")
        .get_by_role("button", name="Delete")
        .click()
    )
    await expect(page.locator(".tile")).to_have_count(0)
    await expect(page.get_by_role("heading", name="No photos here yet")).to_be_visible()
    await expect(page.get_by_role("region", name="Selected photos")).to_be_hidden()
