"""Live events through a gateway process with a real worker: every kind, with ids, replayable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import png_bytes, truncated_jpeg_bytes
from tests.sse import Frame, SseReader

pytestmark = pytest.mark.e2e


async def open_events(api: Any, last_id: str | None = None) -> SseReader:
    headers = {"Last-Event-ID": last_id} if last_id else {}
    response = await api.session.get(f"{api.url}/v1/events", headers=headers)
    assert response.status == 200
    return SseReader(response)


async def collect_until(reader: SseReader, wanted: set[tuple[str, str]]) -> list[Frame]:
    """Frames until every (event, key) in ``wanted`` was seen; bounded by a deadline."""
    got: list[Frame] = []
    async with asyncio.timeout(90):
        while not wanted <= {(f.event, key(f)) for f in got}:
            got.append(await reader.next(timeout=90))
    return got


def key(frame: Frame) -> str:
    return str(frame.data.get("action") or frame.data.get("image_id"))


async def test_ready_failed_deleted_and_album_changes_are_events_with_ids(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any
) -> None:
    stack = await start_stack(make_settings())
    api = await api_for(stack, "alice")
    live = await open_events(api)
    _, good = await api.upload(png_bytes(64, 48))
    _, bad = await api.upload(truncated_jpeg_bytes(800, 600))
    await api.wait_status(good["id"], {"ready"})
    await api.wait_status(bad["id"], {"failed"})
    async with api.session.post(f"{api.url}/v1/albums", json={"name": "Trip"}) as response:
        album = (await response.json())["id"]
    async with api.session.put(f"{api.url}/v1/albums/{album}/images/{good['id']}") as response:
        assert response.status == 204
    assert await api.delete(f"/v1/images/{good['id']}") == 204
    wanted = {
        ("uploaded", good["id"]),
        ("ready", good["id"]),
        ("failed", bad["id"]),
        ("album", "created"),
        ("album", "image_added"),
        ("trashed", good["id"]),
    }
    frames = await collect_until(live, wanted)
    live.close()
    ids = [int(f.id or 0) for f in frames]
    assert ids == sorted(set(ids)), "every event has an increasing stream id"
    assert ids[0] > 0
    failed = next(f for f in frames if f.event == "failed")
    assert failed.data["reason"], "a failed event says why"
    # A client that saw only the first event gets every later one again, in the same order.
    replay = await open_events(api, last_id=frames[0].id)
    again = [await replay.next(timeout=30) for _ in frames[1:]]
    replay.close()
    assert [(f.id, f.event, f.data) for f in again] == [(f.id, f.event, f.data) for f in frames[1:]]
