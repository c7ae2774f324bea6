"""The render child's sandbox: no secrets, no network, bounded memory and CPU, same pixels.

A probe child is started exactly as a render child is (:func:`start_child`: same arguments,
environment and sandbox prelude) and reports what it could reach; the limits are also tried
through real renders.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.domain.errors import RenderTimeout
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.sandbox import SandboxLimits
from pipeline.runtime.settings import LimitsSettings
from pipeline.services.process_renderer import CHILD_PRELUDE, ProcessRenderer, start_child
from pipeline.services.renderer import ThreadRenderer
from tests import images
from tests.unit.scanning import case

pytestmark = pytest.mark.unit
LIMITS = LimitsSettings(render_timeout_seconds=60)
SANDBOX = SandboxLimits(memory_bytes=512 * 1024**2, cpu_seconds=60, lifetime_cpu_seconds=600)
SECRET = "s3-secret-that-must-stay-home"

# What a decoder exploit would try first, reported as JSON on stdout.
PROBE = """
import json, os, socket
found = {"environment": dict(os.environ), "sandbox": applied.describe()}
try:
    found["parent_environ"] = open(f"/proc/{os.getppid()}/environ", "rb").read().decode("latin-1")
except OSError as exc:
    found["parent_environ"] = f"refused: {exc.strerror}"
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5):
        found["connect"] = "connected"
except OSError as exc:
    found["connect"] = f"refused: {exc.strerror}"
try:
    bytearray(int(sys.argv[4]))
    found["allocate"] = "allocated"
except MemoryError:
    found["allocate"] = "MemoryError"
print(json.dumps(found))
"""


async def _probe_with(port: int, allocate: int) -> dict[str, str]:
    # The probe's own arguments follow start_child's two (the parent's pid, the limits).
    code = CHILD_PRELUDE + f"sys.argv += [{str(port)!r}, {str(allocate)!r}]\n" + PROBE
    process = await start_child(code, SANDBOX)
    assert process.stdout is not None
    out = await asyncio.wait_for(process.stdout.read(), 60)
    await process.wait()
    return dict(json.loads(out))


async def test_the_child_cannot_read_the_parents_secrets_or_reach_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GALLERY_S3_SECRET_KEY", SECRET)
    monkeypatch.setenv("GALLERY_MONGO_URI", f"mongodb://gallery:{SECRET}@127.0.0.1/")
    connected: list[bool] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(True)
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        found = await _probe_with(port, allocate=1024)
    assert SECRET not in json.dumps(found["environment"])
    assert not any(name.startswith("GALLERY_") for name in found["environment"])
    assert found["parent_environ"].startswith("refused"), found["parent_environ"]
    assert found["connect"].startswith("refused"), found["connect"]
    assert not connected  # the listener on the parent's loopback saw nobody
    assert "seccomp" in found["sandbox"]


async def test_the_child_cannot_allocate_past_its_memory_limit() -> None:
    found = await _probe_with(port=1, allocate=SANDBOX.memory_bytes + 64 * 1024**2)
    assert found["allocate"] == "MemoryError"


async def test_a_render_past_its_cpu_limit_is_stopped_and_the_slot_renders_the_next(
    on_disk: Callable[[bytes], Path],
) -> None:
    # The scan bomb takes ~100 s of CPU; the wall-clock deadline is far away, the CPU one not.
    tight = SandboxLimits(
        memory_bytes=SANDBOX.memory_bytes, cpu_seconds=1, lifetime_cpu_seconds=600
    )
    bomb_limits = LimitsSettings(render_timeout_seconds=100, max_jpeg_scans=1_000_000)
    async with ProcessRenderer(
        DEFAULT_SPEC, LIMITS, store_gps=False, slots=1, sandbox=tight
    ) as renderer:
        with pytest.raises(RenderTimeout) as info:
            await renderer.render_with(
                on_disk(case("c14_scan_bomb.jpg")), DEFAULT_SPEC, bomb_limits, store_gps=False
            )
        assert "CPU" in info.value.public_message
        result = await renderer.render(on_disk(images.jpeg_bytes(320, 240)))
        assert result.width == 320


async def test_a_child_near_its_lifetime_cpu_budget_is_replaced(
    on_disk: Callable[[bytes], Path],
) -> None:
    # A lifetime budget of one render's limit: once it has used any CPU, no render is left.
    small = SandboxLimits(SANDBOX.memory_bytes, cpu_seconds=1, lifetime_cpu_seconds=1)
    async with ProcessRenderer(
        DEFAULT_SPEC, LIMITS, store_gps=False, slots=1, sandbox=small
    ) as renderer:
        pids = []
        for _ in range(2):
            await renderer.render(on_disk(images.jpeg_bytes(64, 48)))
            pids.append(renderer._slots[0].child.process.pid)
        assert pids[0] != pids[1]


@pytest.mark.parametrize(
    "original",
    [
        pytest.param(lambda: images.jpeg_bytes(1600, 1200, camera=True), id="jpeg-exif"),
        pytest.param(lambda: case("c05_small_preview.dng"), id="dng"),
    ],
)
async def test_renditions_are_byte_identical_to_an_in_process_render(
    original: Callable[[], bytes], on_disk: Callable[[bytes], Path]
) -> None:
    path = on_disk(original())
    expected = await ThreadRenderer(DEFAULT_SPEC, LIMITS, store_gps=False).render(path)
    async with ProcessRenderer(DEFAULT_SPEC, LIMITS, store_gps=False, slots=1) as renderer:
        got = await renderer.render(path)
    assert [r.data for r in got.renditions] == [r.data for r in expected.renditions]
    assert (got.metadata, got.thumbhash, got.width, got.height) == (
        expected.metadata,
        expected.thumbhash,
        expected.width,
        expected.height,
    )


def test_only_allowed_variables_reach_the_child() -> None:
    from pipeline.runtime.sandbox import child_environment

    parent = {"PATH": "/bin", "VIPS_CONCURRENCY": "1", "GALLERY_S3_SECRET_KEY": SECRET, "X": "1"}
    assert child_environment(parent) == {"PATH": "/bin", "VIPS_CONCURRENCY": "1"}
    # GALLERY_WORKER_RENDER_ENV_PASS names more, one by one.
    assert child_environment(parent, ["X"]) == {"PATH": "/bin", "VIPS_CONCURRENCY": "1", "X": "1"}
    assert os.environ  # the parent's own environment is untouched
