"""Finding photos in the browser (issue 22): the timeline groups photos by the day they were
taken (a photo without a capture date by its upload day, marked), a scrubber lists the
years; the search box finds a photo by a keyword its XMP carries and by its camera."""

from __future__ import annotations

from typing import Any

import pyexiv2
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import SettingsFactory
from tests.e2e.browser_page import READY_MS, open_page, sign_in, tile, upload_named
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(), workers=1)


def photo(seed: int, exif: dict[str, str], xmp: dict[str, Any]) -> bytes:
    """A JPEG carrying these EXIF and XMP fields, written as a camera or Lightroom would."""
    with pyexiv2.ImageData(jpeg_bytes(320, 240, seed=seed)) as image:
        if exif:
            image.modify_exif(exif)
        if xmp:
            image.modify_xmp(xmp)
        return bytes(image.get_bytes())


async def test_the_timeline_groups_by_day_and_the_search_finds_by_keyword_and_camera(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    uploads = {
        "seaside.jpg": photo(1, {"Exif.Photo.DateTimeOriginal": "2019:08:15 10:00:00"},
                             {"Xmp.dc.subject": ["Seaside", "holiday"]}),
        "canon.jpg": photo(2, {"Exif.Image.Make": "Canon", "Exif.Image.Model": "EOS R5",
                               "Exif.Photo.DateTimeOriginal": "2023:02:01 09:30:00"}, {}),
        "plain.jpg": photo(3, {}, {}),
    }  # fmt: skip
    for name, body in uploads.items():
        await api.wait_status((await upload_named(api, name, body))["id"], {"ready"})

    status, found = await api.get("/v1/images?q=seasi&order=taken")
    assert status == 200
    assert [i["filename"] for i in found["items"]] == ["seaside.jpg"]
    status, bad = await api.get("/v1/images?taken_after=yesterday")
    assert status == 400
    assert "taken_after" in bad["error"]["message"]
    assert found["items"][0]["metadata"]["keywords"] == ["Seaside", "holiday"]

    page = await open_page(browser, stack.url)
    await sign_in(page, key)
    await expect(page.locator(".tile.loaded")).to_have_count(3, timeout=READY_MS)
    # By date taken, latest first: the undated photo by its upload day (today), marked.
    days = page.locator(".day-head")
    await expect(days).to_have_count(3)
    await expect(days.nth(1)).to_contain_text("2023")
    await expect(days.nth(2)).to_contain_text("2019")
    await expect(tile(page, "plain.jpg").locator(".undated")).to_be_visible()
    await expect(tile(page, "canon.jpg").locator(".undated")).to_be_hidden()
    years = page.get_by_role("navigation", name="Years").get_by_role("button")
    await expect(years.filter(has_text="2019")).to_have_count(1)
    await years.filter(has_text="2019").click()
    await expect(days.nth(2)).to_be_in_viewport()

    search = page.get_by_role("searchbox", name="Search photos")
    await search.fill("seaside")
    await search.press("Enter")
    await expect(page.locator(".tile")).to_have_count(1)
    await expect(tile(page, "seaside.jpg")).to_be_visible()
    await search.fill("camera:canon")
    await search.press("Enter")
    await expect(page.locator(".tile")).to_have_count(1)
    await expect(tile(page, "canon.jpg")).to_be_visible()
    await search.fill("")
    await search.press("Enter")
    await expect(page.locator(".tile")).to_have_count(3)
