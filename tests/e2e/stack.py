"""The whole system as separate processes: a gateway and worker processes, as in production."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

from gallery.servers import (
    ManagedProcess,
    free_port,
    gallery_env,
    http_ok,
    start_gallery,
    terminate_all,
    wait_until_ready,
)
from pipeline.adapters.catalog import issue_api_key
from pipeline.runtime.settings import Settings, to_env


class Stack:
    """Gateway + workers started from ``settings``; each process logs to ``log_dir``."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The gateway's ops listener: /readyz is served there only.
        self.ops_port = free_port()
        self.ops_url = f"http://127.0.0.1:{self.ops_port}"
        self.gateway: ManagedProcess | None = None
        self.workers: list[ManagedProcess] = []
        self.extra: list[ManagedProcess] = []
        self._env = gallery_env(
            {
                **to_env(settings),
                "GALLERY_GATEWAY_HOST": "127.0.0.1",
                "GALLERY_GATEWAY_PORT": str(self.port),
            }
        )

    def launch(
        self, command: str, log_name: str, env: dict[str, str] | None = None
    ) -> ManagedProcess:
        return start_gallery([command], {**self._env, **(env or {})}, self.log_dir / log_name)

    def launch_gateway(self, env: dict[str, str] | None = None) -> ManagedProcess:
        """The gateway, its ops listener on ``ops_port``; ``env`` overrides settings."""
        ops = {"GALLERY_METRICS_HOST": "127.0.0.1", "GALLERY_METRICS_PORT": str(self.ops_port)}
        self.gateway = self.launch("gateway", "gateway.log", {**ops, **(env or {})})
        return self.gateway

    async def start(self, workers: int = 1) -> None:
        self.launch_gateway()
        for _ in range(workers):
            self.add_worker()
        await self.wait_ready()
        await self.wait_workers_ready()

    async def wait_workers_ready(self, timeout: float = 120.0) -> None:
        """Wait until every worker has declared its streams and pulls (its "worker ready" log
        line): a test that stops NATS right after start must not catch a worker mid-start."""
        for worker in self.workers:
            ready = functools.partial(_logged_ready, worker)
            await asyncio.to_thread(wait_until_ready, worker, ready, timeout)

    def add_worker(self, env: dict[str, str] | None = None) -> ManagedProcess:
        """Start one more worker; ``env`` overrides settings for this worker only."""
        worker = self.launch("worker", f"worker-{len(self.workers) + 1}.log", env)
        self.workers.append(worker)
        return worker

    async def add_gateway(self, timeout: float = 60.0) -> str:
        """Start one more gateway process (a replica) on its own port; return its URL."""
        port, ops = free_port(), free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "GALLERY_GATEWAY_PORT": str(port),
            "GALLERY_METRICS_HOST": "127.0.0.1",
            "GALLERY_METRICS_PORT": str(ops),
        }
        gateway = self.launch("gateway", f"gateway-{port}.log", env)
        self.extra.append(gateway)
        ready = f"http://127.0.0.1:{ops}/readyz"
        await asyncio.to_thread(wait_until_ready, gateway, lambda: http_ok(ready), timeout)
        return url

    async def wait_ready(self, timeout: float = 120.0) -> None:
        assert self.gateway is not None
        ready = f"{self.ops_url}/readyz"
        await asyncio.to_thread(wait_until_ready, self.gateway, lambda: http_ok(ready), timeout)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``gallery ARGS`` with this stack's settings, as an operator would."""
        return self.cli_with({}, *args)

    def cli_with(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``gallery ARGS`` with this stack's settings overridden by ``env``."""
        return subprocess.run(
            [sys.executable, "-m", "gallery.cli", *args],
            env={**self._env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def stop_gateway(self) -> None:
        """Stop the first gateway process (SIGTERM, as a rollout would)."""
        assert self.gateway is not None
        terminate_all([self.gateway], timeout=20)

    def kill_worker(self, index: int = 0) -> None:
        os.kill(self.workers[index].process.pid, signal.SIGKILL)
        self.workers[index].process.wait()

    async def api_key(self, tenant: str) -> str:
        return await issue_api_key(self.settings.mongo, tenant, "test")

    def logs(self) -> str:
        parts = [p for p in [self.gateway, *self.extra, *self.workers] if p is not None]
        return "\n".join(f"--- {p.log_path.name}\n{p.log_tail(30)}" for p in parts)

    def stop(self) -> None:
        processes = [self.gateway, *self.extra, *self.workers]
        terminate_all([p for p in processes if p is not None], timeout=20)


def _logged_ready(worker: ManagedProcess) -> bool:
    return "worker ready" in worker.log_path.read_text(errors="replace")
