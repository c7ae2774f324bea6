"""A real S3 server process for tests, on loopback, one per test session.

By default this is MinIO, built from source by ``scripts/tools.sh minio`` into
``.tools/bin/minio``. Set ``GALLERY_TEST_S3=moto`` to use moto's server (``moto_server``
from the virtualenv) instead: an emulator, for machines where MinIO cannot be built.

    with start_s3_server(tmp_dir) as s3:
        settings = S3Settings(endpoint=s3.endpoint, access_key_id=s3.access_key_id, ...)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MINIO_BINARY = REPO_ROOT / ".tools" / "bin" / "minio"
ENV_KIND = "GALLERY_TEST_S3"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class S3Endpoint:
    """Where the test S3 server listens and how to sign in."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    kind: str  # "minio" or "moto"


class S3ServerError(RuntimeError):
    """The S3 server binary is missing or did not start."""


def start_s3_server(tmp_dir: Path) -> contextlib.AbstractContextManager[S3Endpoint]:
    """Start MinIO (or moto with ``GALLERY_TEST_S3=moto``) on 127.0.0.1; stop it on exit.

    ``tmp_dir`` holds the server's data folder and log. Raises
    :class:`S3ServerError`, with the log, if the server is missing or does not
    answer its health check within 30 seconds.
    """
    kind = os.environ.get(ENV_KIND, "minio").strip().lower() or "minio"
    if kind not in {"minio", "moto"}:
        raise S3ServerError(f"{ENV_KIND}={kind!r}: expected 'minio' or 'moto'")
    return _serve(tmp_dir, kind)


@contextlib.contextmanager
def _serve(tmp_dir: Path, kind: str) -> Iterator[S3Endpoint]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = dict(os.environ)
    if kind == "minio":
        if not os.access(MINIO_BINARY, os.X_OK):
            raise S3ServerError(
                f"{MINIO_BINARY} is missing: run `scripts/tools.sh minio` "
                f"(or set {ENV_KIND}=moto to use moto's emulator)"
            )
        user, password = "gallery-test", secrets.token_hex(16)
        data = tmp_dir / "minio-data"
        data.mkdir(exist_ok=True)
        command = [
            str(MINIO_BINARY),
            "server",
            str(data),
            "--address",
            f"127.0.0.1:{port}",
            "--console-address",
            f"127.0.0.1:{_free_port()}",
            "--quiet",
        ]
        env |= {
            "MINIO_ROOT_USER": user,
            "MINIO_ROOT_PASSWORD": password,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            # The data folder sits on the root disk in CI and containers; MinIO refuses
            # that outside CI mode.
            "MINIO_CI_CD": "1",
        }
        health = "/minio/health/live"
    else:
        user, password = "testing", "testing"
        moto = Path(sys.executable).with_name("moto_server")
        command = [str(moto), "-H", "127.0.0.1", "-p", str(port)]
        health = "/moto-api/"
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp_dir / f"{kind}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        try:
            _wait_healthy(process, endpoint + health, log_path)
            yield S3Endpoint(endpoint, user, password, kind)
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    # MinIO does not accept port 0, so ask the kernel for a free port and hand it over;
    # the race with another process taking it meanwhile is acceptable in tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    # Polling is the only readiness signal a child process offers; the interval is short.
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise S3ServerError(
                f"S3 server exited with code {process.returncode}; log:\n{_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise S3ServerError(
        f"S3 server at {url} not healthy after {START_TIMEOUT_SECONDS:.0f} s "
        f"({last_error}); log:\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
