"""Fixtures that start the system as real processes against the session's servers."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser

from pipeline.runtime.settings import Settings
from tests.e2e.browser_page import launch
from tests.e2e.stack import Stack


class Api:
    """A tenant's view of the gateway."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url

    async def upload(
        self, body: bytes, content_type: str = "image/jpeg"
    ) -> tuple[int, dict[str, Any]]:
        async with self.session.post(
            f"{self.url}/v1/images", data=io.BytesIO(body), headers={"Content-Type": content_type}
        ) as response:
            return response.status, await response.json(content_type=None)

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(f"{self.url}{path}") as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.read()

    async def delete(self, path: str) -> int:
        async with self.session.delete(f"{self.url}{path}") as response:
            return response.status

    async def wait_status(
        self, image_id: str, statuses: set[str], timeout: float = 120.0
    ) -> dict[str, Any]:
        return await self.wait_until(image_id, lambda doc: doc["status"] in statuses, timeout)

    async def wait_until(
        self, image_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 120.0
    ) -> dict[str, Any]:
        """Poll the image until ``condition`` holds (the gateway is another process)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        doc: dict[str, Any] = {}
        while loop.time() < deadline:
            status, doc = await self.get(f"/v1/images/{image_id}")
            assert status == 200, doc
            if condition(doc):
                return doc
            await asyncio.sleep(0.1)
        raise AssertionError(f"image {image_id} not as expected after {timeout}s: {doc}")


StackFactory = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def start_stack(tmp_path: Path) -> AsyncIterator[StackFactory]:
    stacks: list[Stack] = []

    async def start(settings: Settings, workers: int = 1) -> Stack:
        stack = Stack(settings, tmp_path / f"logs-{len(stacks)}")
        stacks.append(stack)
        await stack.start(workers)
        return stack

    yield start
    for stack in stacks:
        stack.stop()
        print(stack.logs())


@pytest.fixture
async def api_for() -> AsyncIterator[Callable[[Stack, str], Awaitable[Api]]]:
    sessions: list[aiohttp.ClientSession] = []

    async def make(stack: Stack, tenant: str) -> Api:
        key = await stack.api_key(tenant)
        session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"})
        sessions.append(session)
        return Api(session, stack.url)

    yield make
    for session in sessions:
        await session.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium (tests.e2e.browser_page.launch) for one test."""
    async with launch() as launched:
        yield launched
