"""Run the stack under test: ``gallery up`` itself (``make up``'s defaults) or a given URL.

The embedded stack runs as a child ``python -m gallery.cli up`` on free ports and a
throw-away data folder, with the caller's ``GALLERY_`` variables removed, so what is measured
is what ``make up`` runs; ``extra_env`` sets chosen settings on purpose (a benchmark of a
setting). Every process under it is found from ``/proc`` (:mod:`bench.procs`).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gallery.servers import free_port, gallery_env, http_ok, mongo_uri


@dataclass
class Stack:
    url: str
    key: str
    nats_url: str | None
    root_pid: int | None = None
    data_dir: Path | None = None
    mongo_uri: str | None = None
    ready_urls: list[str] = field(default_factory=list)


def _up_args(data: Path, workers: int | None) -> tuple[list[str], dict[str, int]]:
    ports = {name: free_port() for name in ("port", "nats-port", "mongo-port", "nats-monitor-port")}
    # The metrics ports are consecutive (gateway, then one per worker): take a free range.
    ports["metrics-port"] = free_port() + 20
    args = [sys.executable, "-m", "gallery.cli", "up", "--data-dir", str(data)]
    help_text = subprocess.run(
        [*args[:4], "--help"], capture_output=True, text=True, check=True
    ).stdout
    for name, port in ports.items():
        if f"--{name}" in help_text:
            args += [f"--{name}", str(port)]
    if workers is not None:
        args += ["--workers", str(workers)]
    return args, ports


@contextlib.contextmanager
def embedded(
    workers: int | None = None,
    extra_env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Stack]:
    """``gallery up`` on free ports; yields once the gateway and every worker are ready.

    ``cwd``: run it from another checkout (with ``PYTHONPATH`` in ``extra_env``), e.g. a
    ``git archive`` of an older commit for before/after figures."""
    with tempfile.TemporaryDirectory(prefix="gallery-throughput-") as tmp:
        data = Path(tmp) / "data"
        args, ports = _up_args(data, workers)
        log = (Path(tmp) / "up.log").open("wb")
        env = gallery_env({"GALLERY_LOG_LEVEL": "WARNING", **(extra_env or {})})
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            count = workers if workers is not None else 2
            # Every process's ops listener (the gateway's /readyz is served there only).
            ready = [
                f"http://127.0.0.1:{ports['metrics-port'] + i}/readyz" for i in range(count + 1)
            ]
            _wait(proc, ready, Path(tmp) / "up.log")
            key = (data / "api-key").read_text().strip()
            yield Stack(
                url=f"http://127.0.0.1:{ports['port']}",
                key=key,
                nats_url=f"nats://127.0.0.1:{ports['nats-port']}",
                root_pid=proc.pid,
                data_dir=data,
                mongo_uri=mongo_uri(ports["mongo-port"]),
                ready_urls=ready,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def _wait(proc: subprocess.Popen[bytes], urls: list[str], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gallery up exited:\n{log.read_text(errors='replace')[-3000:]}")
        if all(http_ok(u) for u in urls):
            return
        time.sleep(0.2)
    raise RuntimeError(f"gallery up not ready in 120 s:\n{log.read_text(errors='replace')[-3000:]}")
