"""``gallery up``: the whole pipeline on one machine, on embedded defaults.

nats-server (JetStream on disk), SecantusDB (on disk), the filesystem object store, the
gateway and N worker processes, all under one data folder (``./.gallery``), so a restart
keeps every photo. The gateway, the workers and the CLI sign in to NATS each as their own
role (``pipeline.domain.roles``), with passwords made on the first start. A process that
exits is restarted with backoff (:mod:`gallery.supervisor`) instead of taking the rest down.
Ctrl-C stops everything in order: gateway and workers drain first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

from gallery import stackfile
from gallery.childenv import child_env
from gallery.servers import (
    ManagedProcess,
    http_ok,
    mongo_uri,
    port_open,
    start_gallery,
    start_nats,
    start_secantus,
    terminate_all,
    wait_until_ready,
)
from gallery.stackfile import Endpoint, StackFile
from gallery.supervisor import Supervisor
from pipeline.adapters.catalog import issue_api_key
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.roles import ROLES, Credential, Role, nats_authorization
from pipeline.runtime.settings import ENV_PREFIX, MongoSettings

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
    # How long the banner waits for the workers (their render processes start in 20-25 s on
    # a loaded 2-core machine); past it the banner says they are still starting.
    workers_ready_seconds: float = 120.0

    def ports(self) -> dict[str, int]:
        """Every port this stack listens on, by what listens there."""
        ports = {
            "gateway": self.port,
            "nats": self.nats_port,
            "nats monitoring": self.nats_monitor_port,
            "mongo": self.mongo_port,
            "gateway metrics": self.metrics_port,
        }
        for index in range(self.workers):
            ports[f"worker {index + 1} metrics"] = self.worker_metrics_port(index)
        return ports

    def worker_metrics_port(self, index: int) -> int:
        return self.metrics_port + 1 + index


def _owned_env(opts: UpOptions) -> dict[str, str]:
    """The settings gallery up must own: where its servers are and where it listens."""
    return {
        "GALLERY_NATS_URL": f"nats://127.0.0.1:{opts.nats_port}",
        "GALLERY_MONGO_URI": mongo_uri(opts.mongo_port),
        "GALLERY_STORAGE_BACKEND": "filesystem",
        "GALLERY_STORAGE_ROOT": str(opts.data_dir / "objects"),
        "GALLERY_GATEWAY_HOST": "127.0.0.1",
        "GALLERY_GATEWAY_PORT": str(opts.port),
        "GALLERY_GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{opts.port}",
        "GALLERY_METRICS_HOST": "127.0.0.1",
        "GALLERY_METRICS_PORT": str(opts.metrics_port),
    }


def _check_ports(opts: UpOptions) -> None:
    ports = opts.ports()
    taken = [f"{port} ({what})" for what, port in ports.items() if port_open(port)]
    clashes = len(set(ports.values())) != len(ports)
    if clashes:
        raise ConfigurationError(f"two of gallery up's ports are the same: {ports}")
    if taken:
        raise ConfigurationError(
            f"port(s) in use: {', '.join(taken)}; stop what holds them or pass other ports"
        )


def _role_credentials(data_dir: Path) -> dict[Role, Credential]:
    """Each role's NATS user and password: made once, kept in the data folder (mode 0600), so
    a restarted stack's processes and its CLI find the same ones."""
    path = data_dir / "credentials.json"
    if path.exists():
        raw = json.loads(path.read_text())
        return {role: Credential(**raw[role]) for role in ROLES}
    made = {role: Credential(f"gallery-{role}", secrets.token_urlsafe(24)) for role in ROLES}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({role: asdict(credential) for role, credential in made.items()}, file)
    return made


def role_env(credentials: dict[Role, Credential], role: Role) -> dict[str, str]:
    """The settings that sign ``role`` in (``GALLERY_NATS_USER``, ``GALLERY_NATS_PASSWORD``)."""
    return {
        "GALLERY_NATS_USER": credentials[role].user,
        "GALLERY_NATS_PASSWORD": credentials[role].password,
    }


def _api_key(data_dir: Path, uri: str) -> str:
    """The local tenant's key: created once, kept in the data folder (mode 0600)."""
    path = data_dir / "api-key"
    if path.exists():
        return path.read_text().strip()
    key = asyncio.run(issue_api_key(MongoSettings(uri=uri), TENANT, "gallery up"))
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


@contextlib.contextmanager
def _data_dir_lock(data: Path) -> Iterator[None]:
    """Hold ``<data>/.lock`` (an ``flock``) while ``gallery up`` runs on the folder.

    A second ``gallery up`` on the same folder on other ports would otherwise start a second
    nats-server on the live JetStream store, fail on the catalog's WiredTiger lock, and on
    its way out remove the running stack's discovery files. The kernel drops the lock when the
    process dies, however it dies, so a crash never leaves a stale lock behind.

    Raises:
        ConfigurationError: another process holds the folder (its pid in the message).
    """
    data.mkdir(parents=True, exist_ok=True)
    path = data / ".lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ConfigurationError(
                f"another `gallery up` (pid {holder}) is running on {data}: stop it first, "
                "or pass --data-dir for a second stack"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def run_up(opts: UpOptions) -> int:
    opts = replace(opts, data_dir=opts.data_dir.resolve())
    with _data_dir_lock(opts.data_dir):
        return _run_locked(opts)


def _run_locked(opts: UpOptions) -> int:
    data = opts.data_dir
    _check_ports(opts)
    child = child_env(_owned_env(opts))
    for line in child.report():
        _say(line)
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
        credentials = _role_credentials(data)
        _start_servers(
            opts,
            servers,
            child.env.get("GALLERY_MONGO_EMBEDDED_CACHE_SIZE"),
            nats_authorization(credentials),
        )
        _say("gallery: servers up; starting the gateway, then the workers")
        gateway, key, logs = _start_gateway(
            opts, {**child.env, **role_env(credentials, "gateway")}, apps
        )
        # /readyz is on the ops listener only (nobody else makes the gateway check its backends).
        ready_url = f"http://127.0.0.1:{opts.metrics_port}/readyz"
        wait_until_ready(gateway, lambda: http_ok(ready_url), seconds=60)
        # Workers after the gateway: started together, the three processes' first imports
        # share the cores and the gateway is ready later (first `make up` on a loaded
        # machine: 17 s from servers up to a ready gateway).
        _start_workers(opts, {**child.env, **role_env(credentials, "worker")}, apps, logs)
        # The operator's commands (keys, backfill, dlq, reconcile) sign in as admin.
        _stack_file(opts, {**child.env, **role_env(credentials, "admin")}).write(data)
        # The banner once an upload would be rendered, not just accepted: a worker answers
        # /readyz once its render processes run and it is connected to NATS, the catalog
        # and the store, right before it pulls jobs (20-25 s after the gateway, measured).
        _say(f"gallery: gateway ready; waiting for {opts.workers} worker(s) to connect")
        ready = _wait_for_workers(opts, apps, lambda: stopping)
        if stopping:
            return 0
        _banner(opts, key, logs, ready)
        while not stopping:
            # A process that exits is restarted (with backoff) instead of stopping the rest:
            # the data folders keep every photo and job, and the others reconnect.
            servers.check()
            apps.check()
            time.sleep(0.3)
        return 0
    finally:
        _say("gallery: stopping (gateway and workers drain first)")
        stackfile.remove(data)
        terminate_all(apps.processes(), timeout=40)
        terminate_all(servers.processes(), timeout=20)
        _say(f"gallery: stopped; your photos stay in {data}")


def _say(message: str) -> None:
    print(message, flush=True)


def _start_servers(
    opts: UpOptions, servers: Supervisor, cache_size: str | None, authorization: str
) -> None:
    data = opts.data_dir
    servers.add(
        "nats-server",
        partial(
            start_nats,
            data / "nats",
            port=opts.nats_port,
            monitor_port=opts.nats_monitor_port,
            authorization=authorization,
        ),
    )
    servers.add(
        "secantusd",
        partial(start_secantus, data / "mongo", port=opts.mongo_port, cache_size=cache_size),
    )


def _start_gateway(
    opts: UpOptions, env: dict[str, str], apps: Supervisor
) -> tuple[ManagedProcess, str, Path]:
    key = _api_key(opts.data_dir, env["GALLERY_MONGO_URI"])
    logs = opts.data_dir / "logs"
    gateway = apps.add("gateway", partial(start_gallery, ["gateway"], env, logs / "gateway.log"))
    return gateway, key, logs


def _start_workers(opts: UpOptions, env: dict[str, str], apps: Supervisor, logs: Path) -> None:
    for index in range(opts.workers):
        worker_env = {**env, "GALLERY_METRICS_PORT": str(opts.worker_metrics_port(index))}
        log_path = logs / f"worker-{index + 1}.log"
        apps.add(f"worker {index + 1}", partial(start_gallery, ["worker"], worker_env, log_path))


def _wait_for_workers(opts: UpOptions, apps: Supervisor, stopped: Callable[[], bool]) -> int:
    """Wait until every worker's /readyz answers 200, at most ``workers_ready_seconds``
    (restarting a worker that exits meanwhile); how many were ready."""
    urls = [f"http://127.0.0.1:{opts.worker_metrics_port(i)}/readyz" for i in range(opts.workers)]
    ready: set[str] = set()
    deadline = time.monotonic() + opts.workers_ready_seconds
    while len(ready) < len(urls) and time.monotonic() < deadline and not stopped():
        apps.check()
        ready |= {url for url in urls if url not in ready and http_ok(url)}
        time.sleep(0.2)
    return len(ready)


def _stack_file(opts: UpOptions, env: dict[str, str]) -> StackFile:
    def metrics(port: int) -> str:
        return f"http://127.0.0.1:{port}/metrics"

    endpoints = [Endpoint("gateway", "gateway", metrics(opts.metrics_port))]
    endpoints += [
        Endpoint(f"worker-{i + 1}", "worker", metrics(opts.worker_metrics_port(i)))
        for i in range(opts.workers)
    ]
    return StackFile(
        pid=os.getpid(),
        gateway_url=f"http://127.0.0.1:{opts.port}",
        nats_url=f"nats://127.0.0.1:{opts.nats_port}",
        nats_monitoring_url=f"http://127.0.0.1:{opts.nats_monitor_port}",
        mongo_uri=mongo_uri(opts.mongo_port),
        endpoints=endpoints,
        data_dir=str(opts.data_dir),
        settings_env={k: v for k, v in env.items() if k.startswith(ENV_PREFIX)},
    )


def _banner(opts: UpOptions, key: str, logs: Path, ready: int) -> None:
    url = f"http://127.0.0.1:{opts.port}"
    gallery = command_name()
    if ready == opts.workers:
        workers = f"{opts.workers} worker(s) ready"
    else:  # said, not hidden: uploads are accepted and wait in the queue meanwhile
        workers = (
            f"{ready} of {opts.workers} worker(s) ready, the others still starting "
            f"(uploads wait in the queue until they join; see {logs}/worker-*.log)"
        )
    print(
        f"""
gallery is up: open {url} in a browser; {workers}
  API key (tenant {TENANT!r}):  {key}
                   kept in {opts.data_dir / "api-key"}: the sign-in page asks for it
{_path_hint(gallery)}  upload photos:   {gallery} upload PATH...   (from any folder)
  more commands:   {gallery} --help   (ls, show, albums, rm, status, reconcile, keys)
  or with curl:    curl -H "Authorization: Bearer $(cat {opts.data_dir / "api-key"})" \\
                     --data-binary @photo.jpg {url}/v1/images
  pipeline state:  {gallery} status
  metrics:         http://127.0.0.1:{opts.metrics_port}/metrics
  logs:            {logs}
Press Ctrl-C to stop.""",
        flush=True,
    )


def _path_hint(gallery: str) -> str:
    if gallery == "gallery" or not gallery.endswith("/gallery"):
        return ""
    folder = str(Path(gallery).parent)
    return f'  not on PATH:     export PATH="{folder}:$PATH"   (then plain `gallery` works)\n'


def command_name() -> str:
    """``gallery`` when that name on PATH is this very command, else its exact path."""
    script = Path(sys.argv[0])
    if script.name == "gallery" and script.exists():
        on_path = shutil.which("gallery")
        if on_path is not None and Path(on_path).resolve() == script.resolve():
            return "gallery"
        return str(script.resolve())
    return f"{sys.executable} -m gallery"
