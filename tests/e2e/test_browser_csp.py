"""The web UI under the gateway's Content-Security-Policy (no inline script or style):
signing in, uploading, the live grid, thumbnails and the lightbox work, and the browser
reports no violation of the policy."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, ConsoleMessage, expect

from tests.conftest import SettingsFactory
from tests.e2e.browser_page import READY_MS, expect_ready, open_page, sign_in, tile
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# Every violation reaches the page as a securitypolicyviolation event; the listener is
# installed before the page's own scripts run (an init script is not subject to the CSP).
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(), workers=1)


async def test_the_gallery_works_under_its_content_security_policy(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as session, session.get(stack.url) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy

    key = await stack.api_key("alice")
    photo = tmp_path / "csp.jpg"
    photo.write_bytes(jpeg_bytes(1200, 800, seed=5))
    page = await open_page(browser, stack.url)
    console: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            console.append(message.text)

    page.on("console", note)
    await page.context.add_init_script(WATCH_VIOLATIONS)
    await page.reload()
    await sign_in(page, key)
    await page.set_input_files("#files", [str(photo)])
    await expect(page.locator("#uploads li").first).to_have_attribute(
        "data-state", "ready", timeout=READY_MS
    )
    await expect_ready(page, "csp.jpg")
    thumb = tile(page, "csp.jpg")
    await expect(thumb.locator(".placeholder")).to_have_attribute(
        "src", re.compile(r"^data:image/png")
    )
    assert await thumb.locator(".thumb").evaluate("i => i.naturalWidth") > 0
    await thumb.get_by_role("button").click()
    await expect(page.get_by_role("dialog", name="csp.jpg")).to_be_visible()
    await expect(page.locator("#lb-photo")).to_have_attribute(
        "data-rendition", re.compile("preview")
    )
    violations = await page.evaluate("window.__cspViolations")
    assert violations == [], violations
    assert console == [], console
