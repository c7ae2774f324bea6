"""``gallery up``: the whole pipeline on one machine, on embedded defaults.

nats-server (JetStream on disk), SecantusDB (on disk), the filesystem object store, the
gateway and N worker processes, all under one data folder (``./.gallery``), so a restart
keeps every photo. Ctrl-C stops everything in order: gateway and workers drain first.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from gallery.servers import (
    ManagedProcess,
    gallery_env,
    http_ok,
    mongo_uri,
    port_open,
    start_gallery,
    start_nats,
    start_secantus,
    terminate_all,
    wait_until_ready,
)
from pipeline.adapters.catalog import issue_api_key
from pipeline.domain.errors import ConfigurationError
from pipeline.runtime.settings import MongoSettings

TENANT = "local"


@dataclass(frozen=True)
class UpOptions:
    data_dir: Path
    port: int = 8080
    workers: int = 2
    nats_port: int = 4222
    mongo_port: int = 27017
    metrics_port: int = 9100


def _child_env(opts: UpOptions, nats_port: int, mongo_port: int) -> dict[str, str]:
    return gallery_env(
        {
            "GALLERY_NATS_URL": f"nats://127.0.0.1:{nats_port}",
            "GALLERY_MONGO_URI": mongo_uri(mongo_port),
            "GALLERY_STORAGE_BACKEND": "filesystem",
            "GALLERY_STORAGE_ROOT": str(opts.data_dir / "objects"),
            "GALLERY_GATEWAY_HOST": "127.0.0.1",
            "GALLERY_GATEWAY_PORT": str(opts.port),
            "GALLERY_GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{opts.port}",
            "GALLERY_METRICS_HOST": "127.0.0.1",
            # One process per worker: spread libvips' threads over the cores instead.
            "GALLERY_WORKER_CONCURRENCY": "1",
            "GALLERY_SWEEPER_STALE_AFTER_SECONDS": "30",
        }
    )


def _api_key(data_dir: Path, uri: str) -> str:
    """The local tenant's key: created once, kept in the data folder (mode 0600)."""
    path = data_dir / "api-key"
    if path.exists():
        return path.read_text().strip()
    key = asyncio.run(issue_api_key(MongoSettings(uri=uri), TENANT, "gallery up"))
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def run_up(opts: UpOptions) -> int:
    data = opts.data_dir.resolve()
    opts = UpOptions(
        data, opts.port, opts.workers, opts.nats_port, opts.mongo_port, opts.metrics_port
    )
    for port in (opts.port, opts.nats_port, opts.mongo_port):
        if port_open(port):
            raise ConfigurationError(
                f"port {port} is in use; stop what holds it or pass another port"
            )
    servers: list[ManagedProcess] = []
    apps: list[ManagedProcess] = []
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"gallery: starting servers under {data}", flush=True)
        servers.append(start_nats(data / "nats", port=opts.nats_port, monitor_port=8222))
        servers.append(start_secantus(data / "mongo", port=opts.mongo_port))
        env = _child_env(opts, opts.nats_port, opts.mongo_port)
        key = _api_key(data, env["GALLERY_MONGO_URI"])
        logs = data / "logs"
        gateway_env = {**env, "GALLERY_METRICS_PORT": str(opts.metrics_port)}
        apps.append(start_gallery(["gateway"], gateway_env, logs / "gateway.log"))
        for index in range(opts.workers):
            worker_env = {**env, "GALLERY_METRICS_PORT": str(opts.metrics_port + 1 + index)}
            apps.append(start_gallery(["worker"], worker_env, logs / f"worker-{index + 1}.log"))
        ready_url = f"http://127.0.0.1:{opts.port}/readyz"
        wait_until_ready(apps[0], lambda: http_ok(ready_url), seconds=60)
        _banner(opts, key, logs)
        while not stopping:
            dead = [p for p in servers + apps if not p.alive()]
            if dead:
                print(
                    f"gallery: {dead[0].name} exited; log {dead[0].log_path}:\n{dead[0].log_tail()}"
                )
                return 1
            time.sleep(0.3)
        return 0
    finally:
        print("gallery: stopping (gateway and workers drain first)", flush=True)
        terminate_all(apps, timeout=40)
        terminate_all(servers, timeout=20)
        print("gallery: stopped; your photos stay in", data, flush=True)


def _banner(opts: UpOptions, key: str, logs: Path) -> None:
    url = f"http://127.0.0.1:{opts.port}"
    print(
        f"""
gallery is up: gateway {url}, {opts.workers} worker(s)
  API key (tenant {TENANT!r}):  {key}
  upload photos:   gallery upload --url {url} --key {key} PATH...
  or:              curl -H 'Authorization: Bearer {key}' --data-binary @photo.jpg {url}/v1/images
  metrics:         http://127.0.0.1:{opts.metrics_port}/metrics
  logs:            {logs}
Press Ctrl-C to stop.""",
        flush=True,
    )
