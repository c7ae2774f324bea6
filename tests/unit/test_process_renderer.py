"""ProcessRenderer: a render that overruns its deadline is killed mid-decode, the slot freed.

The originals reach the child as files (what the spool hands over); ``on_disk`` writes them.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.domain.errors import RenderTimeout, UnsupportedMediaType
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
from pipeline.services.process_renderer import ProcessRenderer
from tests import images
from tests.unit.scanning import case

pytestmark = pytest.mark.unit


# The scan limit raised so the bomb reaches the decoder: the renderer is the last line.
BOMB_LIMITS = LimitsSettings(render_timeout_seconds=2, max_jpeg_scans=1_000_000)
LIMITS = LimitsSettings(render_timeout_seconds=60)


async def test_scan_bomb_is_killed_at_the_deadline_and_the_slot_renders_the_next_photo(
    on_disk: Callable[[bytes], Path],
) -> None:
    async with ProcessRenderer(DEFAULT_SPEC, LIMITS, store_gps=False, slots=1) as renderer:
        started = time.monotonic()
        with pytest.raises(RenderTimeout) as info:
            await renderer.render_with(
                on_disk(case("c14_scan_bomb.jpg")), DEFAULT_SPEC, BOMB_LIMITS, store_gps=False
            )
        elapsed = time.monotonic() - started
        assert info.value.http_status == 422  # terminal: the image ends failed with the reason
        assert "longer than 2 s" in info.value.public_message
        # One decode takes ~100 s of CPU; killed at 2 s (generous margin for a loaded machine).
        assert elapsed < 30
        photo = images.jpeg_bytes(800, 600)
        result = await renderer.render_with(on_disk(photo), DEFAULT_SPEC, LIMITS, store_gps=False)
        assert (result.width, result.height) == (800, 600)


async def test_errors_of_the_tree_cross_the_process_boundary(
    on_disk: Callable[[bytes], Path],
) -> None:
    async with ProcessRenderer(DEFAULT_SPEC, LIMITS, store_gps=False, slots=1) as renderer:
        with pytest.raises(UnsupportedMediaType) as info:
            await renderer.render_with(
                on_disk(b"not an image" * 20), DEFAULT_SPEC, LIMITS, store_gps=False
            )
        assert info.value.http_status == 415
        result = await renderer.render_with(
            on_disk(case("c05_small_preview.dng")), DEFAULT_SPEC, LIMITS, store_gps=False
        )
        assert (result.width, result.height) == (640, 480)


async def test_slots_render_in_parallel_and_a_bomb_holds_only_its_own(
    on_disk: Callable[[bytes], Path],
) -> None:
    # A deadline far beyond the photo's render even on a loaded machine, so "the bomb is
    # still running when the photo is done" does not depend on timing; then it is cancelled.
    long_bomb = LimitsSettings(render_timeout_seconds=110, max_jpeg_scans=1_000_000)
    async with ProcessRenderer(DEFAULT_SPEC, LIMITS, store_gps=False, slots=2) as renderer:
        bomb = asyncio.create_task(
            renderer.render_with(
                on_disk(case("c14_scan_bomb.jpg")), DEFAULT_SPEC, long_bomb, store_gps=False
            )
        )
        photo = images.jpeg_bytes(640, 480)
        result = await renderer.render_with(on_disk(photo), DEFAULT_SPEC, LIMITS, store_gps=False)
        assert not bomb.done()  # the photo did not wait for the bomb
        assert result.width == 640
        bomb.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bomb


async def test_a_cancelled_render_leaves_a_working_slot(
    on_disk: Callable[[bytes], Path],
) -> None:
    async with ProcessRenderer(DEFAULT_SPEC, LIMITS, store_gps=False, slots=1) as renderer:
        task = asyncio.create_task(
            renderer.render_with(
                on_disk(case("c14_scan_bomb.jpg")), DEFAULT_SPEC, LIMITS, store_gps=False
            )
        )
        await asyncio.sleep(0)  # let it take the slot
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        result = await renderer.render(
            on_disk(images.jpeg_bytes(64, 48))
        )  # the services' Renderer port
        assert result.width == 64


def test_renders_when_the_worker_is_pid_1_as_in_a_container(tmp_path: Path) -> None:
    # In a container the worker is pid 1, so its render children see ppid 1 from the start;
    # that must not read as "the parent died" (every render crashed in the cluster test).
    script = (
        "import asyncio, os, sys\n"
        "from pipeline.imaging.spec import DEFAULT_SPEC\n"
        "from pipeline.runtime.settings import LimitsSettings\n"
        "from pipeline.services.process_renderer import ProcessRenderer\n"
        "from pathlib import Path\n"
        "from tests import images\n"
        "async def main():\n"
        "    assert os.getpid() == 1\n"
        "    async with ProcessRenderer(DEFAULT_SPEC, LimitsSettings(), store_gps=False,"
        " slots=1) as r:\n"
        "        path = Path(sys.argv[1])\n"
        "        path.write_bytes(images.jpeg_bytes(64, 48))\n"
        "        print((await r.render(path)).width)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [
            *("unshare", "--pid", "--fork", "--kill-child", sys.executable, "-c", script),
            str(tmp_path / "photo.jpg"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "64"
