"""The video lane: a transcode never holds a photo's render slot, and with no worker taking
video jobs they wait in their lane (neither failed nor dead-lettered) until one does."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.bus import JetStreamBus
from pipeline.domain import names
from pipeline.runtime.settings import JobsSettings, Settings, WorkerSettings
from tests import videos
from tests.conftest import SettingsFactory
from tests.e2e.conftest import Api, StackFactory
from tests.images import jpeg_bytes

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    """The child processes of ``pid``, oldest first (by start time, then pid)."""
    found: list[tuple[int, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # After the command in parentheses: state, ppid, ... starttime is field 22.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append((int(fields[19]), int(entry.name)))
    return [child for _start, child in sorted(found)]


async def _video_lane(settings: Settings) -> tuple[int, int]:
    """(jobs waiting, dead letters): the video consumer's pending jobs and the DLQ's size."""
    async with JetStreamBus.connect(settings.nats, jobs=settings.jobs) as bus:
        state = await bus.state()
    video = next(c for c in state.consumers if c.name == names.VIDEO_CONSUMER)
    return video.pending, state.dead_letters


async def test_a_video_waits_without_a_video_worker_and_photos_still_flow(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any
) -> None:
    settings = make_settings(jobs=JobsSettings(video_slots=0))  # no worker takes videos
    stack = await start_stack(settings)
    api: Api = await api_for(stack, "alice")
    status, video = await api.upload(videos.clip("mp4", seconds=2), content_type="video/mp4")
    assert status == 202, video
    status, photo = await api.upload(jpeg_bytes(640, 480))
    assert status == 202, photo
    ready = await api.wait_status(photo["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    # Longer than the job's ack wait and several sweeps past the stale age: nothing gives up.
    wait = settings.nats.ack_wait_seconds + 4 * settings.sweeper.stale_after_seconds
    await asyncio.sleep(wait)
    status, waiting = await api.get(f"/v1/images/{video['id']}")
    assert (status, waiting["status"]) == (200, "queued"), waiting
    pending, dead_letters = await _video_lane(settings)
    # The sweeper republishes the queued video; the tenant's share of the stream caps the
    # copies (a worker acks the extra ones as done), and none is dead-lettered.
    assert 1 <= pending <= settings.jobs.tenant_queued
    assert dead_letters == 0
    # A worker that takes videos arrives (KEDA scaling the video workers up from zero).
    stack.add_worker({"GALLERY_JOBS_VIDEO_SLOTS": "1"})
    done = await api.wait_status(video["id"], {"ready", "failed"})
    assert done["status"] == "ready", done
    assert "video" in done["renditions"]


async def test_a_photo_becomes_ready_while_a_video_holds_the_video_lane(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any
) -> None:
    # One render slot and one video slot: were videos in the render slot, the photo would wait.
    settings = make_settings(
        worker=WorkerSettings(concurrency=1, drain_timeout_seconds=5.0),
        jobs=JobsSettings(video_slots=1),
    )
    stack = await start_stack(settings)
    api: Api = await api_for(stack, "alice")
    # The render processes start in order: the photo's slot, then the video's.
    photo_child, video_child = _children(stack.workers[0].process.pid)
    os.kill(video_child, signal.SIGSTOP)  # a transcode that takes as long as the test needs
    try:
        status, video = await api.upload(videos.clip("mp4", seconds=2), content_type="video/mp4")
        assert status == 202, video
        await api.wait_status(video["id"], {"processing"})
        status, photo = await api.upload(jpeg_bytes(640, 480))
        assert status == 202, photo
        ready = await api.wait_status(photo["id"], {"ready", "failed"})
        assert ready["status"] == "ready", ready
        # Past the ack wait: the running job heartbeats, so it is neither redelivered nor
        # taken over (its lease is renewed), and the video is still the one job in its lane.
        await asyncio.sleep(settings.nats.ack_wait_seconds * 1.5)
        status, held = await api.get(f"/v1/images/{video['id']}")
        assert (status, held["status"]) == (200, "processing"), held
        assert await _video_lane(settings) == (0, 0)
    finally:
        os.kill(video_child, signal.SIGCONT)
    done = await api.wait_status(video["id"], {"ready", "failed"})
    assert done["status"] == "ready", done
    assert photo_child != video_child


async def test_a_worker_killed_mid_transcode_hands_the_video_over(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for: Any
) -> None:
    settings = make_settings(
        worker=WorkerSettings(concurrency=1, drain_timeout_seconds=5.0),
        jobs=JobsSettings(video_slots=1),
    )
    stack = await start_stack(settings)
    api: Api = await api_for(stack, "alice")
    _photo_child, video_child = _children(stack.workers[0].process.pid)
    os.kill(video_child, signal.SIGSTOP)  # mid-transcode when the worker dies
    try:
        status, video = await api.upload(videos.clip("mp4", seconds=2), content_type="video/mp4")
        assert status == 202, video
        await api.wait_status(video["id"], {"processing"})
        stack.kill_worker(0)
    finally:
        os.kill(video_child, signal.SIGKILL)  # an orphan stopped child cannot see its parent go
    stack.add_worker()
    done = await api.wait_status(video["id"], {"ready", "failed"})
    assert done["status"] == "ready", done
    assert await _video_lane(settings) == (0, 0), "handed over, not lost nor dead-lettered"
