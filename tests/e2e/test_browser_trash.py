"""The trash and the usage line in the browser (issue 22): a deleted photo waits in the
Trash view, comes back with Restore, and Empty deletes it for good; the header's usage
line follows."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import SettingsFactory
from tests.e2e.browser_page import (
    READY_MS,
    open_page,
    screenshot,
    showcase_jpeg,
    sign_in,
    upload_named,
)
from tests.e2e.conftest import StackFactory
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
async def stack(make_settings: SettingsFactory, start_stack: StackFactory) -> Stack:
    return await start_stack(make_settings(), workers=1)


async def test_delete_to_the_trash_restore_and_empty(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    docs = []
    for index in range(2):
        doc = await upload_named(api, f"IMG_{5100 + index}.jpg", showcase_jpeg(80 + index))
        docs.append(await api.wait_status(doc["id"], {"ready"}))
    page = await open_page(browser, stack.url)
    await sign_in(page, key)
    await expect(page.locator(".tile.loaded")).to_have_count(2, timeout=READY_MS)
    await expect(page.locator("#usage")).to_contain_text("2 photos")

    doomed = docs[0]["id"]
    await page.locator(f'.tile[data-id="{doomed}"] .tile-select').check()
    await (
        page.get_by_role("region", name="Selected photos")
        .get_by_role("button", name="Delete")
        .click()
    )
    await (
        page.get_by_role("dialog", name="Delete 1 photo?")
        .get_by_role("button", name="Delete")
        .click()
    )
    await expect(page.locator(".tile")).to_have_count(1)
    await expect(page.locator("#usage")).to_contain_text("1 in trash")

    await page.get_by_role("button", name="Trash", exact=True).click()
    await expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    await expect(page.locator(f'.tile[data-id="{doomed}"]')).to_have_class(
        "tile loaded", timeout=READY_MS
    )
    await expect(page.locator(".tile")).to_have_count(1)
    await screenshot(page, "desktop-trash")
    await page.locator(f'.tile[data-id="{doomed}"] .tile-select').check()
    await (
        page.get_by_role("region", name="Selected photos")
        .get_by_role("button", name="Restore")
        .click()
    )
    await expect(page.locator(".tile")).to_have_count(0)
    await page.get_by_role("button", name="Trash", exact=True).click()  # back to the gallery
    await expect(page.locator(".tile")).to_have_count(2)
    assert (await api.get(f"/v1/images/{doomed}"))[0] == 200, "restored"

    assert await api.delete(f"/v1/images/{docs[1]['id']}") == 204
    await page.get_by_role("button", name="Trash", exact=True).click()
    await expect(page.locator(".tile")).to_have_count(1)
    await page.get_by_role("button", name="Empty trash").click()
    await (
        page.get_by_role("dialog", name="Empty the trash?")
        .get_by_role("button", name="Empty trash")
        .click()
    )
    await expect(page.locator("#toast")).to_have_text("Deleted 1 photo for good")
    await expect(page.locator(".tile")).to_have_count(0)
    assert (await api.get("/v1/trash"))[1]["items"] == []
