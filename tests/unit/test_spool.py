"""The render spool: originals on disk within a byte budget, removed whatever happens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.domain.errors import ConfigurationError, OriginalTooLarge, RenderTimeout, SpoolFull
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings, Settings, load_settings
from pipeline.services.process_renderer import ProcessRenderer
from pipeline.services.spool import Spool
from tests.fakes import FakeObjectStore
from tests.unit.scanning import case

pytestmark = pytest.mark.unit


async def _store(**objects: bytes) -> FakeObjectStore:
    store = FakeObjectStore()
    for key, data in objects.items():
        await store.put_bytes(key, data, content_type="application/octet-stream")
    return store


async def test_the_original_is_on_disk_during_the_block_and_gone_after(tmp_path: Path) -> None:
    store = await _store(photo=b"x" * 3_000_000)
    spool = Spool(tmp_path, capacity=10_000_000)
    async with spool.fetch(store, "photo") as path:
        assert path.read_bytes() == b"x" * 3_000_000
        assert spool.used == 3_000_000
    assert not path.exists()
    assert spool.used == 0


async def test_the_file_is_removed_when_the_render_fails(tmp_path: Path) -> None:
    store = await _store(photo=b"x" * 1000)
    spool = Spool(tmp_path, capacity=10_000)
    with pytest.raises(RuntimeError):
        async with spool.fetch(store, "photo"):
            raise RuntimeError("render blew up")
    assert os.listdir(tmp_path) == []
    assert spool.used == 0


async def test_an_original_larger_than_the_spool_fails_and_leaves_nothing(tmp_path: Path) -> None:
    store = await _store(big=b"x" * 5000)
    spool = Spool(tmp_path, capacity=4096)
    with pytest.raises(OriginalTooLarge) as info:
        async with spool.fetch(store, "big"):
            pytest.fail("must not be reached")
    assert "GALLERY_WORKER_SPOOL_BYTES" in str(info.value)
    assert info.value.http_status == 422  # terminal: the image fails with the reason
    assert os.listdir(tmp_path) == []


async def test_a_full_spool_is_a_retryable_error_while_others_hold_the_space(
    tmp_path: Path,
) -> None:
    store = await _store(first=b"a" * 3000, second=b"b" * 3000)
    spool = Spool(tmp_path, capacity=4096)
    async with spool.fetch(store, "first"):
        with pytest.raises(SpoolFull) as info:
            async with spool.fetch(store, "second"):
                pytest.fail("must not be reached")
        assert info.value.retryable
    async with spool.fetch(store, "second") as path:  # the space came back
        assert path.read_bytes() == b"b" * 3000


async def test_the_spool_file_is_removed_when_the_render_child_is_killed(tmp_path: Path) -> None:
    store = await _store(bomb=case("c14_scan_bomb.jpg"))
    spool = Spool(tmp_path / "spool", capacity=10_000_000)
    bomb = LimitsSettings(render_timeout_seconds=1, max_jpeg_scans=1_000_000)
    async with ProcessRenderer(DEFAULT_SPEC, bomb, store_gps=False, slots=1) as renderer:
        with pytest.raises(RenderTimeout):
            async with spool.fetch(store, "bomb") as path:
                await renderer.render(path)
    assert os.listdir(tmp_path / "spool") == []


def test_sweep_removes_what_a_killed_process_with_this_pid_left(tmp_path: Path) -> None:
    mine = tmp_path / f"gallery-original-{os.getpid()}-abc"
    other = tmp_path / "gallery-original-999999999-abc"  # another live worker's: kept
    mine.write_bytes(b"left over")
    other.write_bytes(b"in use")
    assert Spool(tmp_path, capacity=1).sweep() == 1
    assert not mine.exists()
    assert other.exists()


def test_the_spool_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GALLERY_WORKER_SPOOL_DIR", str(tmp_path))
    monkeypatch.setenv("GALLERY_WORKER_SPOOL_BYTES", "4096")
    monkeypatch.setenv("GALLERY_WORKER_RENDER_MEMORY_BYTES", str(256 * 1024**2))
    monkeypatch.setenv("GALLERY_WORKER_RENDER_CPU_SECONDS", "30")
    worker = Settings().worker
    assert (worker.spool_dir, worker.spool_bytes) == (str(tmp_path), 4096)
    assert (worker.render_memory_bytes, worker.render_cpu_seconds) == (256 * 1024**2, 30.0)


def test_a_render_process_budget_below_one_render_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GALLERY_WORKER_RENDER_CPU_SECONDS", "600")
    monkeypatch.setenv("GALLERY_WORKER_RENDER_PROCESS_CPU_SECONDS", "60")
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    assert "render_process_cpu_seconds" in str(info.value)
