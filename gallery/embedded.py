"""``gallery up``: the whole pipeline on one machine, on embedded defaults.

nats-server (JetStream on disk), SecantusDB (on disk), the filesystem object store, the
gateway and N worker processes, all under one data folder (``./.gallery``), so a restart
keeps every photo. A process that exits is restarted with backoff (:mod:`gallery.supervisor`)
instead of taking the rest down. Ctrl-C stops everything in order: gateway and workers drain
first.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, replace
from functools import partial
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
from gallery.supervisor import Supervisor
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
    nats_monitor_port: int = 8222
    # Restart backoff of a process that exits: base, 2 x base ... up to the cap (seconds).
    restart_base_seconds: float = 1.0
    restart_max_seconds: float = 30.0


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
    opts = replace(opts, data_dir=data)
    for port in (opts.port, opts.nats_port, opts.mongo_port):
        if port_open(port):
            raise ConfigurationError(
                f"port {port} is in use; stop what holds it or pass another port"
            )
    stopping = False

    def on_signal(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    servers = Supervisor(say=_say, base=opts.restart_base_seconds, cap=opts.restart_max_seconds)
    apps = Supervisor(say=_say, base=opts.restart_base_seconds, cap=opts.restart_max_seconds)
    try:
        _say(f"gallery: starting servers under {data}")
        _start_servers(opts, servers)
        gateway, key, logs = _start_apps(opts, apps)
        ready_url = f"http://127.0.0.1:{opts.port}/readyz"
        wait_until_ready(gateway, lambda: http_ok(ready_url), seconds=60)
        _banner(opts, key, logs)
        while not stopping:
            # A process that dies is restarted (with backoff) instead of stopping the rest:
            # the data folders keep every photo and job, the others reconnect.
            servers.check()
            apps.check()
            time.sleep(0.3)
        return 0
    finally:
        _say("gallery: stopping (gateway and workers drain first)")
        terminate_all(apps.processes(), timeout=40)
        terminate_all(servers.processes(), timeout=20)
        _say(f"gallery: stopped; your photos stay in {data}")


def _say(message: str) -> None:
    print(message, flush=True)


def _start_servers(opts: UpOptions, servers: Supervisor) -> None:
    data = opts.data_dir
    servers.add(
        "nats-server",
        lambda: start_nats(data / "nats", port=opts.nats_port, monitor_port=opts.nats_monitor_port),
    )
    servers.add("secantusd", lambda: start_secantus(data / "mongo", port=opts.mongo_port))


def _start_apps(opts: UpOptions, apps: Supervisor) -> tuple[ManagedProcess, str, Path]:
    env = _child_env(opts, opts.nats_port, opts.mongo_port)
    key = _api_key(opts.data_dir, env["GALLERY_MONGO_URI"])
    logs = opts.data_dir / "logs"
    gateway_env = {**env, "GALLERY_METRICS_PORT": str(opts.metrics_port)}
    gateway = apps.add(
        "gateway", lambda: start_gallery(["gateway"], gateway_env, logs / "gateway.log")
    )
    for index in range(opts.workers):
        worker_env = {**env, "GALLERY_METRICS_PORT": str(opts.metrics_port + 1 + index)}
        log_path = logs / f"worker-{index + 1}.log"
        apps.add(f"worker {index + 1}", partial(start_gallery, ["worker"], worker_env, log_path))
    return gateway, key, logs


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
