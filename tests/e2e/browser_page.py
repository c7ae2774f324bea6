"""Helpers for the browser tests: Debian's Chromium through Playwright, the gallery page as a
person uses it (by labels and roles where the page has them), and screenshots kept as
artifacts under ``.artifacts/ui`` (or ``GALLERY_UI_ARTIFACTS``)."""

from __future__ import annotations

import asyncio
import colorsys
import json
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pyvips
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from tests.images import exif_blob

CHROMIUM = os.environ.get("GALLERY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("GALLERY_UI_ARTIFACTS", Path(__file__).parents[2] / ".artifacts" / "ui")
)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
READY_MS = 60_000
# Playwright's expect waits 5 s by default: on a machine loaded past its cores a page can take
# longer than that to answer a click (seen: "Sign out" not yet visible). A generous bound for
# every expect that does not give its own; a passing run does not wait any longer for it.
expect.set_options(timeout=30_000)


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
    # Transitions finish at once, so a fading thumbnail is captured fully painted.
    await page.screenshot(path=str(path), animations="disabled")  # creates the folder
    return path


async def tile_names(page: Page) -> list[str]:
    names: list[str] = await page.locator(".tile").evaluate_all("ts => ts.map(t => t.title)")
    return names


class EventStreamCutter:
    """A TCP proxy in front of the gateway that drops the page's event stream like a network
    blip: :meth:`cut` closes every connection that carried ``GET /v1/events`` and, until
    :meth:`restore`, closes new ones as soon as they ask for the stream. Everything else
    passes through, so the page can still list images while its stream is down."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.down = False
        self.streams: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def cut(self) -> None:
        self.down = True
        for writer in list(self.streams):
            writer.close()

    def restore(self) -> None:
        self.down = False

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, writer, watch=True),
                self._pump(up_reader, writer, writer, watch=False),
            )
        except (ConnectionError, OSError):
            pass
        finally:
            self.streams.discard(writer)
            for end in (writer, up_writer):
                end.close()

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        client: asyncio.StreamWriter,
        *,
        watch: bool,
    ) -> None:
        while chunk := await source.read(65536):
            if watch and b"GET /v1/events" in chunk:
                self.streams.add(client)
                if self.down:
                    client.close()
                    return
            sink.write(chunk)
            await sink.drain()
        sink.close()


SKY_HUES = [0.6, 0.95, 0.05, 0.72, 0.55, 0.02, 0.66, 0.9, 0.08, 0.5]


def showcase_jpeg(seed: int, width: int = 1500, height: int = 1000) -> bytes:
    """A colourful synthetic landscape (sky, sun, three ridges) with camera EXIF, so the
    screenshots look like a photo library rather than a test pattern."""
    rng = random.Random(seed)
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0] / (width - 1), xy[1] / (height - 1)
    hue = SKY_HUES[seed % len(SKY_HUES)] + rng.uniform(-0.02, 0.02)
    top, bottom = _rgb(hue, 0.7, 0.45), _rgb((hue + 0.1) % 1, 0.6, 1.0)
    image = pyvips.Image.black(width, height, bands=3) + top
    image = image + (y * 1.0).bandjoin([y, y]) * [b - t for t, b in zip(top, bottom, strict=True)]
    sun_x, sun_y, radius = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.45), rng.uniform(0.05, 0.09)
    sun = ((x - sun_x) ** 2 + ((y - sun_y) * height / width) ** 2) < radius**2
    image = sun.ifthenelse(_rgb(0.13, 0.35, 1.0), image)
    for layer in range(3):
        base = 0.5 + 0.14 * layer
        amplitude, frequency = rng.uniform(0.03, 0.08), rng.uniform(1.0, 3.0)
        ridge = (x * 360 * frequency + rng.uniform(0, 360)).sin() * amplitude + base
        colour = _rgb((hue + 0.45 + 0.04 * layer) % 1, 0.45, 0.5 - 0.14 * layer)
        image = (y > ridge).ifthenelse(colour, image)
    noise = pyvips.Image.gaussnoise(width, height, sigma=4, mean=0, seed=seed)
    image = (image + noise).cast("uchar").copy(interpretation="srgb")
    image.set_type(pyvips.GValue.blob_type, "exif-data", exif_blob(1, camera=True, gps=False))
    return bytes(image.jpegsave_buffer(Q=88))


def _rgb(hue: float, saturation: float, value: float) -> list[float]:
    return [255 * channel for channel in colorsys.hsv_to_rgb(hue, saturation, value)]


async def upload_named(api: Any, name: str, body: bytes) -> dict[str, Any]:
    """POST /v1/images?filename=NAME through the tenant's API session (as the CLI does)."""
    url = f"{api.url}/v1/images"
    async with api.session.post(url, params={"filename": name}, data=body) as response:
        assert response.status == 202, await response.text()
        doc: dict[str, Any] = await response.json()
        return doc
