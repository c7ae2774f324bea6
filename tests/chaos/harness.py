"""A whole stack the fault tests can break: real servers that die, freeze and come back.

nats-server, SecantusDB and MinIO run as child processes on ports fixed at their first
start, over data folders that outlive them, so a restart serves the same streams, documents
and objects. The gateway and workers are the production processes (``tests/e2e/stack.py``);
a keeper task restarts a worker that died, as Kubernetes or ``gallery up`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from gallery.servers import ManagedProcess, free_port, mongo_uri, start_nats, start_secantus
from pipeline.adapters.catalog import MongoCatalog
from pipeline.runtime.settings import (
    EdgeSettings,
    FairShareSettings,
    LimitsSettings,
    MetricsSettings,
    MongoSettings,
    NatsSettings,
    QuotaSettings,
    S3Settings,
    Settings,
    StorageSettings,
    SweeperSettings,
    WorkerSettings,
)
from tests.e2e.stack import Stack
from tests.freezing import freeze, thaw
from tests.s3server import start_minio

HOOK = Path(__file__).resolve().parent / "hook"
TENANT = "chaos"


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.25
) -> float:
    """Poll ``condition`` until it holds; return the seconds it took (AssertionError after
    ``timeout``, naming ``what``)."""
    started = time.monotonic()
    while not await condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(every)
    return time.monotonic() - started


@dataclass
class Server:
    """A server process that can be killed, frozen and started again on its port and data."""

    name: str
    launch: Callable[[int], ManagedProcess]
    port: int = 0
    proc: ManagedProcess | None = None

    async def start(self) -> None:
        self.proc = await asyncio.to_thread(self.launch, self.port)
        self.port = self.proc.port

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.process.pid, sig)

    async def freeze(self) -> None:
        """SIGSTOP, returning once every thread has stopped (tests/freezing.py)."""
        assert self.proc is not None
        await asyncio.to_thread(freeze, self.proc.process.pid)

    def thaw(self) -> None:
        assert self.proc is not None
        thaw(self.proc.process.pid)

    async def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        await asyncio.to_thread(self.proc.process.wait)

    async def shut_down(self) -> None:
        """Stop it the way an orchestrator does (SIGTERM, then wait): it refuses connections
        until started again."""
        assert self.proc is not None
        await asyncio.to_thread(self.proc.stop, 30)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGCONT)  # a frozen server cannot stop
            self.proc.stop(10)


@dataclass
class Upload:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    seconds: float


class ChaosStack:
    """Servers + gateway + workers under ``root``; ``settings`` overrides by section."""

    def __init__(
        self, root: Path, workers: int = 2, *, mongo_timeout: float = 2.0, **sections: Any
    ) -> None:
        self.root = root
        self.mongo_timeout = mongo_timeout
        self.worker_count = workers
        self.sections = sections
        user, password = "chaos", secrets.token_hex(12)
        self.s3_credentials = (user, password)
        self.nats = Server("nats-server", lambda port: start_nats(root / "nats", port=port))
        self.mongo = Server("secantusd", lambda port: start_secantus(root / "mongo", port=port))
        self.s3 = Server(
            "minio",
            lambda port: start_minio(
                root / "minio", port or free_port(), user, password, root / "minio.log"
            ),
        )
        self.stack: Stack | None = None
        self.session: aiohttp.ClientSession | None = None
        self.worker_env: dict[str, str] = {}
        self.restarts = 0
        self._keeper: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        assert self.stack is not None
        return self.stack.url

    @property
    def settings(self) -> Settings:
        assert self.stack is not None
        return self.stack.settings

    def _settings(self) -> Settings:
        user, password = self.s3_credentials
        values: dict[str, Any] = {
            "nats": NatsSettings(
                url=f"nats://127.0.0.1:{self.nats.port}",
                ack_wait_seconds=4.0,
                backoff_base_seconds=0.5,
                backoff_max_seconds=2.0,
            ),
            "mongo": MongoSettings(
                uri=mongo_uri(self.mongo.port), timeout_seconds=self.mongo_timeout
            ),
            "storage": StorageSettings(backend="s3"),
            "s3": S3Settings(
                endpoint=f"http://127.0.0.1:{self.s3.port}",
                bucket="chaos",
                access_key_id=user,
                secret_access_key=password,
                create_bucket=True,
            ),
            "limits": LimitsSettings(render_timeout_seconds=20.0),
            "worker": WorkerSettings(concurrency=1, drain_timeout_seconds=15.0),
            "sweeper": SweeperSettings(interval_seconds=1.0, stale_after_seconds=3.0),
            "metrics": MetricsSettings(port=0),
            # The faults are the subject here, not the per-key rate policy: 200 clients make
            # far more than the default 600 uploads a minute (its 429s are tested elsewhere);
            # nor the byte rate, whose count of a chunked body is one more catalog write.
            "quota": QuotaSettings(uploads_per_minute=0, bytes_per_minute=0),
            # Nor the fair shares and the per-address cap (tests/security): the 200 clients
            # are one key on one address, and the limit under test is the process's own (503).
            "fair": FairShareSettings(uploads_per_tenant=1024, uploads_per_key=1024),
            "edge": EdgeSettings(max_connections_per_address=1024),
        }
        values.update(self.sections)
        return Settings(**values)

    async def start(self, worker_env: dict[str, str] | None = None) -> ChaosStack:
        await asyncio.gather(self.nats.start(), self.mongo.start(), self.s3.start())
        self.worker_env = worker_env or {}
        self.stack = Stack(self._settings(), self.root / "logs")
        self.stack.launch_gateway()
        for _ in range(self.worker_count):
            self.stack.add_worker(self.worker_env)
        await self.stack.wait_ready(timeout=120)
        key = await self.stack.api_key(TENANT)
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {key}"}, timeout=aiohttp.ClientTimeout(total=60)
        )
        self._keeper = asyncio.create_task(self._keep_workers())
        return self

    async def _keep_workers(self) -> None:
        """Restart a worker that died (SIGKILL, a crash), as its supervisor would."""
        assert self.stack is not None
        while True:
            for index, worker in enumerate(self.stack.workers):
                if not worker.alive():
                    self.stack.workers[index] = self.stack.launch(
                        "worker", f"worker-{index + 1}.log", self.worker_env
                    )
                    self.restarts += 1
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        if self.session is not None:
            await self.session.close()
        if self.stack is not None:
            await asyncio.to_thread(self.stack.stop)
        for server in (self.s3, self.mongo, self.nats):
            server.stop()

    # --- what a client does ------------------------------------------------------------

    async def upload(self, data: bytes, *, timeout: float = 60.0) -> Upload:
        assert self.session is not None
        started = time.monotonic()
        async with self.session.post(
            f"{self.url}/v1/images",
            data=io.BytesIO(data),
            headers={"Content-Type": "image/jpeg"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            body = await response.json(content_type=None)
            return Upload(response.status, body, dict(response.headers), time.monotonic() - started)

    async def upload_all(self, photos: list[bytes], parallel: int = 8) -> list[str]:
        """Upload every photo (retrying 503s after Retry-After); return the image ids."""
        gate = asyncio.Semaphore(parallel)

        async def one(data: bytes) -> str:
            async with gate:
                for _ in range(120):
                    sent = await self.upload(data)
                    if sent.status in (200, 202):
                        return str(sent.body["id"])
                    assert sent.status == 503, (sent.status, sent.body)
                    await asyncio.sleep(float(sent.headers.get("Retry-After", "1")))
                raise AssertionError("upload kept getting 503")

        return list(await asyncio.gather(*(one(p) for p in photos)))

    async def readyz(self) -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        async with self.session.get(
            f"{self.stack.ops_url}/readyz", timeout=aiohttp.ClientTimeout(total=30)
        ) as response:
            return response.status, await response.json(content_type=None)

    @contextlib.asynccontextmanager
    async def catalog(self) -> AsyncIterator[MongoCatalog]:
        async with MongoCatalog.connect(self.settings.mongo) as catalog:
            yield catalog

    async def statuses(self, ids: list[str]) -> dict[str, int]:
        async with self.catalog() as catalog:
            counts: dict[str, int] = {}
            async for doc in catalog.images.find({"_id": {"$in": ids}}, {"status": 1}):
                counts[doc["status"]] = counts.get(doc["status"], 0) + 1
        return counts

    async def status_of(self, ids: list[str]) -> dict[str, str]:
        """Image id -> status, as the catalog has it (a missing image is left out)."""
        async with self.catalog() as catalog:
            cursor = catalog.images.find({"_id": {"$in": ids}}, {"status": 1})
            return {doc["_id"]: doc["status"] async for doc in cursor}

    async def crashes(self, ids: list[str]) -> int:
        """Crashes the catalog counted on the images of ``ids`` (the worker is alive in an
        outage, so each one would be a photo one step closer to failing for nothing)."""
        async with self.catalog() as catalog:
            cursor = catalog.images.find({"_id": {"$in": ids}}, {"crashes": 1})
            return sum([doc.get("crashes", 0) async for doc in cursor])

    async def wait_ready(self, ids: list[str], timeout: float) -> float:
        """Seconds until every image of ``ids`` is ready (AssertionError if one fails)."""

        async def all_ready() -> bool:
            counts = await self.statuses(ids)
            assert counts.get("failed", 0) == 0, f"failed images: {counts}"
            return counts.get("ready", 0) == len(ids)

        return await wait_for(all_ready, timeout, f"{len(ids)} images ready")

    def gateway_rss_bytes(self) -> int:
        assert self.stack is not None
        assert self.stack.gateway is not None
        status = Path(f"/proc/{self.stack.gateway.process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024


@dataclass
class Figures:
    """What one fault test measured: a row of docs/reliability.md."""

    test: str
    fault: str
    outcome: str
    figures: dict[str, Any] = field(default_factory=dict)
