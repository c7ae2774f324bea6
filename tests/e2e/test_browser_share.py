"""Sharing in the browser (issue 22): the owner shares an album from the page; the link,
opened in a fresh browser context with no key, shows exactly the album's photos, nothing
of the tenant beyond them (a hostile script tries other ids, albums, the tenant's routes);
once revoked, the link opens nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

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


async def statuses(page: Page, paths: list[str]) -> list[int]:
    """What the page's own fetch gets for each path (no key: the page never has one)."""
    result: list[int] = await page.evaluate(
        "async (paths) => Promise.all(paths.map(async (p) => (await fetch(p)).status))", paths
    )
    return result


async def test_a_shared_album_opens_in_a_fresh_context_and_nothing_else_does(
    stack: Stack, api_for: Any, browser: Browser
) -> None:
    api = await api_for(stack, "alice")
    key = await stack.api_key("alice")
    docs = []
    for index in range(4):
        doc = await upload_named(api, f"IMG_{4100 + index}.jpg", showcase_jpeg(60 + index))
        docs.append(await api.wait_status(doc["id"], {"ready"}))
    async with api.session.post(f"{stack.url}/v1/albums", json={"name": "Family"}) as made:
        album = (await made.json())["id"]
    async with api.session.post(f"{stack.url}/v1/albums", json={"name": "Private"}) as made:
        private = (await made.json())["id"]
    shared = [docs[0]["id"], docs[2]["id"]]
    for image_id in shared:
        await api.session.put(f"{stack.url}/v1/albums/{album}/images/{image_id}")
    await api.session.put(f"{stack.url}/v1/albums/{private}/images/{docs[1]['id']}")

    owner = await open_page(browser, stack.url)
    await sign_in(owner, key)
    await owner.locator(".chip", has_text="Family").click()
    await owner.get_by_role("button", name="Share").click()
    dialog = owner.get_by_role("dialog", name="Share link")
    url = await dialog.get_by_label("Anyone with this link can see the album").input_value()
    await dialog.get_by_role("button", name="Done").click()
    assert "/shared/gs_" in url
    token = url.rsplit("/shared/", 1)[1]

    guest = await open_page(browser, f"{stack.url}/shared/{token}")  # a fresh context
    await expect(guest.get_by_role("heading", name="Family")).to_be_visible()
    await expect(guest.locator(".tile.loaded")).to_have_count(2, timeout=READY_MS)
    ids = await guest.locator(".tile").evaluate_all("ts => ts.map(t => t.dataset.id)")
    assert sorted(ids) == sorted(shared)
    await expect(guest.get_by_role("button", name="Upload photos")).to_be_hidden()
    await expect(guest.get_by_label("API key")).to_be_hidden()
    await guest.locator(f'.tile[data-id="{shared[0]}"]').get_by_role("button").click()
    await expect(guest.locator("#lb-photo")).to_have_attribute(
        "src", re.compile(r"^blob:"), timeout=READY_MS
    )
    await expect(guest.get_by_role("button", name="Delete photo")).to_be_hidden()
    await expect(guest.get_by_role("button", name="Download original")).to_be_hidden()
    await screenshot(guest, "desktop-shared-album")
    assert await guest.evaluate("sessionStorage.length") == 0, "the guest never holds a key"

    link = f"/v1/shared/{token}"
    hostile = [
        f"{link}/images/{docs[1]['id']}",  # in another album
        f"{link}/images/{docs[3]['id']}",  # in no album
        f"{link}/images?album={private}",
        f"{link}/images/{shared[0]}/original",  # downloads not allowed: 403
        "/v1/images",
        f"/v1/albums/{album}",
        "/v1/albums",
        "/v1/shares",
        f"/v1/images/{shared[0]}",
    ]
    assert await statuses(guest, hostile) == [404, 404, 404, 403, 401, 401, 401, 401, 401]

    async with api.session.get(f"{stack.url}/v1/shares") as listed:
        (share,) = (await listed.json())["items"]
    assert share["uses"] >= 1
    async with api.session.delete(f"{stack.url}/v1/shares/{share['id']}") as revoked:
        assert revoked.status == 204
    await guest.reload()
    await expect(
        guest.get_by_role("heading", name="This link does not exist, has expired or was revoked")
    ).to_be_visible()
    assert await statuses(guest, [f"{link}/images", f"{link}/images/{shared[0]}"]) == [404, 404]
