"""Cleanup and reconcile through the real system: gateway and worker processes, NATS,
the catalog server, MinIO or the filesystem store.

- A delete while the worker cannot reach the store: the DELETE answers, the objects stay
  until the store is back, then the cleanup lane removes them. The outage is real: the
  worker reaches MinIO through a TCP proxy in this test, which the test shuts (connection
  refused, live connections reset) and opens again on the same port.
- `gallery reconcile` on a seeded mess (an old orphan, a young orphan, a photo whose
  original vanished, a photo whose renditions vanished), with --dry-run and then for real.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipeline.adapters.catalog import MongoCatalog
from pipeline.adapters.storage import FilesystemObjectStore, open_object_store
from pipeline.domain import names
from pipeline.domain.messages import utcnow
from pipeline.runtime.settings import LimitsSettings, StorageSettings, TrashSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
OLD = timedelta(hours=2)


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, f"not in {timeout}s: {what}"
        await asyncio.sleep(0.2)


class StoreLink:
    """A TCP proxy to the S3 server that the test can shut and open again on its port."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def shut(self) -> None:
        """Refuse new connections and reset every open one (pooled keep-alives too)."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._links):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )
        self._links -= {writer, up_writer}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


@pytest.fixture
async def store_link(make_settings: SettingsFactory) -> AsyncIterator[StoreLink]:
    link = StoreLink(make_settings().s3.endpoint)
    await link.open()
    yield link
    await link.shut()


async def test_delete_during_a_store_outage_loses_nothing_and_leaves_nothing(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for, store_link: StoreLink
) -> None:
    settings = make_settings()
    stack = await start_stack(settings, workers=0)
    worker = stack.add_worker({"GALLERY_S3_ENDPOINT": store_link.url})
    api = await api_for(stack, "alice")
    _, doc = await api.upload(jpeg_bytes(640, 480, seed=3))
    await api.wait_status(doc["id"], {"ready"})
    original = names.original_key("alice", doc["id"])
    renditions = names.rendition_prefix("alice", doc["id"])
    async with open_object_store(settings) as store:  # the test's own, direct line to MinIO

        async def objects() -> list[str]:
            return [*await store.list_keys(original), *await store.list_keys(renditions)]

        assert len(await objects()) == 4, "the original and three renditions"
        await store_link.shut()
        assert await api.delete(f"/v1/images/{doc['id']}?permanent=true") == 204
        status, _ = await api.get(f"/v1/images/{doc['id']}")
        assert status == 404, "the photo is gone for its owner at once"

        async def retried() -> bool:
            return worker.log_path.read_text(errors="replace").count("retrying job") >= 2

        await until(retried, "the cleanup lane retries while the store is away")
        assert len(await objects()) == 4, "nothing removed (or lost) during the outage"
        await store_link.open()

        async def cleaned() -> bool:
            return await objects() == []

        await until(cleaned, "the objects are removed once the store is back")


CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


def slow_progressive_jpeg(scans: int) -> bytes:
    """A valid progressive JPEG of 11968 x 10000 pixels with ``scans`` scans: the first
    scans of the c14 scan bomb and an End Of Image marker (each scan is another pass over
    the whole image, ~30 ms here: 150 scans render in about 5 s, with ~400 MB of memory)."""
    bomb = (CASES / "c14_scan_bomb.jpg").read_bytes()
    at, starts = 0, []
    while len(starts) <= scans:
        at = bomb.index(b"\xff\xda", at + 1)  # SOS; never inside entropy-coded data
        starts.append(at)
    return bomb[: starts[scans]] + b"\xff\xd9"


async def test_delete_while_a_slow_render_really_runs_leaves_nothing(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    # Accepted (150 scans <= the limit), and it renders for seconds: the DELETE lands while
    # the worker really renders it, and the renditions it stores afterwards must go too.
    settings = make_settings(limits=LimitsSettings(max_jpeg_scans=150))
    stack = await start_stack(settings)
    api = await api_for(stack, "alice")
    status, doc = await api.upload(slow_progressive_jpeg(150))
    assert status == 202, doc
    await api.wait_status(doc["id"], {"processing"}, timeout=60)
    # permanent: a plain DELETE moves the photo to the trash, which keeps its renditions
    assert await api.delete(f"/v1/images/{doc['id']}?permanent=true") == 204
    status, _ = await api.get(f"/v1/images/{doc['id']}")
    assert status == 404, "the photo is gone for its owner at once"

    async def render_finished_after_the_delete() -> bool:
        return "deleted or taken over while rendering" in stack.logs()

    await until(render_finished_after_the_delete, "the render that was running ends", 120)
    original = names.original_key("alice", doc["id"])
    renditions = names.rendition_prefix("alice", doc["id"])
    async with open_object_store(settings) as store:

        async def cleaned() -> bool:
            return [*await store.list_keys(original), *await store.list_keys(renditions)] == []

        await until(cleaned, "neither the original nor a late rendition is left")
    _, photo = await api.upload(jpeg_bytes(320, 240, seed=5))  # the worker is still serving
    assert (await api.wait_status(photo["id"], {"ready", "failed"}))["status"] == "ready"


async def test_reconcile_fixes_a_seeded_mess_after_a_dry_run(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for, tmp_path: Path
) -> None:
    root = tmp_path / "objects"
    settings = make_settings(storage=StorageSettings(backend="filesystem", root=root))
    stack = await start_stack(settings, workers=1)
    api = await api_for(stack, "alice")
    lost, bare = [(await api.upload(jpeg_bytes(320, 240, seed=s)))[1]["id"] for s in (1, 2)]
    for image_id in (lost, bare):
        await api.wait_status(image_id, {"ready"})
    store = FilesystemObjectStore(root)
    old_orphan = names.original_key("alice", "01OLDORPHAN0000000000000000")
    young_orphan = names.rendition_key("alice", "01YOUNGORPHAN00000000000000", "thumb", "h", "webp")
    await store.put_bytes(old_orphan, b"left behind", content_type="image/jpeg")
    await store.put_bytes(young_orphan, b"in flight", content_type="image/webp")
    backdate = (utcnow() - OLD).timestamp()
    os.utime(root / old_orphan, (backdate, backdate))
    await store.delete(names.original_key("alice", lost))
    await store.delete_prefix(names.rendition_prefix("alice", bare))
    async with MongoCatalog.connect(settings.mongo) as catalog:  # documents an hour old and more
        await catalog.images.update_many({}, {"$set": {"updated_at": utcnow() - OLD}})

    dry = stack.cli("reconcile", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    expected = {
        "orphan_originals": 1,
        "orphan_renditions": 0,
        "missing_originals": 1,
        "missing_renditions": 1,
        "drifted_counters": 0,
        "skipped_young": 1,
        "skipped_busy_counters": 0,
        "skipped_open_uploads": 0,
    }
    assert json.loads(dry.stdout) == {"dry_run": True, "counts": expected}
    assert (root / old_orphan).exists()
    assert (await api.get(f"/v1/images/{lost}"))[1]["status"] == "ready", "dry run: unchanged"

    real = stack.cli("reconcile")
    assert real.returncode == 0, real.stderr
    assert "orphan originals" in real.stdout
    assert "missing renditions" in real.stdout
    assert not (root / old_orphan).exists()
    assert (root / young_orphan).exists(), "younger than the minimum age: left alone"
    failed = await api.get(f"/v1/images/{lost}")
    assert failed[1]["status"] == "failed"
    assert "original object is missing" in failed[1]["failure"]

    async def rerendered() -> bool:
        return len(await store.list_keys(names.rendition_prefix("alice", bare))) == 3

    await until(rerendered, "the photo without renditions is rendered again")
    status, _ = await api.get(f"/v1/images/{bare}/renditions/thumb")
    assert status == 200
    again = stack.cli("reconcile", "--json")
    counts = json.loads(again.stdout)["counts"]
    assert counts["orphan_originals"] + counts["missing_originals"] == 0, "fixed for good"


async def test_the_trash_is_restorable_then_purged_with_every_object(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    """A deleted photo waits in the trash and comes back on restore; past the retention
    (set to about a second here) the worker's sweeper purges it and every object goes."""
    settings = make_settings(
        trash=TrashSettings(retention_days=2 / 86400, sweep_interval_seconds=0.5)
    )
    stack = await start_stack(settings, workers=1)
    api = await api_for(stack, "alice")
    _, doc = await api.upload(jpeg_bytes(640, 480, seed=21))
    await api.wait_status(doc["id"], {"ready"})
    async with open_object_store(settings) as store:

        async def objects() -> list[str]:
            original = names.original_key("alice", doc["id"])
            renditions = names.rendition_prefix("alice", doc["id"])
            return [*await store.list_keys(original), *await store.list_keys(renditions)]

        assert await api.delete(f"/v1/images/{doc['id']}") == 204
        async with api.session.post(f"{api.url}/v1/trash/{doc['id']}/restore") as restored:
            assert restored.status == 200
        assert (await api.get(f"/v1/images/{doc['id']}"))[0] == 200, "restored"
        assert len(await objects()) == 4

        assert await api.delete(f"/v1/images/{doc['id']}") == 204

        async def purged() -> bool:
            return await objects() == [] and (await api.get("/v1/trash"))[1]["items"] == []

        await until(purged, "the sweeper purges the trash past its retention, objects and all")
        assert (await api.get(f"/v1/trash/{doc['id']}"))[0] == 404
