"""The load generator: C parallel clients upload photos; ``ready`` events come off NATS.

Readiness is read from the bus (``gallery.image.ready.>`` and ``gallery.image.failed.>``,
core NATS), not by polling the gateway, so measuring costs the stack nothing but the
events it publishes anyway. Times are ``time.perf_counter()`` seconds in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import nats

READY_SUBJECTS = ("gallery.image.ready.>", "gallery.image.failed.>")


@dataclass
class Sample:
    name: str
    started: float
    uploaded: float = 0.0
    image_id: str = ""
    done: float = 0.0
    status: str = ""

    @property
    def latency(self) -> float:
        return self.done - self.started


class Watcher:
    """Collects the time each image turns ready or failed."""

    def __init__(self) -> None:
        self.finished: dict[str, tuple[float, str]] = {}
        self.changed = asyncio.Event()

    async def on_msg(self, msg: nats.aio.msg.Msg) -> None:
        event = json.loads(msg.data)
        self.finished.setdefault(event["image_id"], (time.perf_counter(), event["type"]))
        self.changed.set()

    async def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ids <= self.finished.keys():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                missing = len(ids - self.finished.keys())
                raise TimeoutError(f"{missing} image(s) not ready after {timeout:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))


async def _post(session: aiohttp.ClientSession, url: str, sample: Sample, data: bytes) -> None:
    async with session.post(
        f"{url}/v1/images",
        data=data,
        params={"filename": sample.name.split("#")[0].rsplit("/", 1)[-1]},
        headers={"Content-Type": "application/octet-stream"},
    ) as response:
        payload = await response.json(content_type=None)
    if response.status != 202:
        raise RuntimeError(f"upload of {sample.name} answered {response.status}: {payload}")
    sample.uploaded = time.perf_counter()
    sample.image_id = str(payload["id"])


async def upload_all(
    url: str,
    key: str,
    nats_url: str,
    uploads: list[tuple[str, bytes]],
    clients: int,
    *,
    on_start: Callable[[], None] | None = None,
    sequential_wait: bool = False,
    timeout: float = 900,
    pause: Callable[[], Awaitable[None]] | None = None,
) -> list[Sample]:
    """Upload every photo with ``clients`` parallel clients and wait until all are ready.

    ``sequential_wait``: one at a time, each waited for before the next (idle latency).
    """
    nc = await nats.connect(nats_url)
    watcher = Watcher()
    for subject in READY_SUBJECTS:
        await nc.subscribe(subject, cb=watcher.on_msg)
    samples: list[Sample] = []
    queue = list(reversed(uploads))
    headers = {"Authorization": f"Bearer {key}"}
    connector = aiohttp.TCPConnector(limit=clients)
    try:
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            if on_start is not None:
                on_start()

            async def client() -> None:
                while queue:
                    name, data = queue.pop()
                    sample = Sample(name, time.perf_counter())
                    samples.append(sample)
                    await _post(session, url, sample, data)
                    if sequential_wait:
                        await watcher.wait_for({sample.image_id}, timeout)
                        if pause is not None:
                            await pause()

            await asyncio.gather(*(client() for _ in range(clients)))
            await watcher.wait_for({s.image_id for s in samples}, timeout)
    finally:
        await nc.close()
    for sample in samples:
        sample.done, sample.status = watcher.finished[sample.image_id]
    return samples
