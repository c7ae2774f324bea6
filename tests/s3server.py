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
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gallery.servers import ManagedProcess, free_port, http_ok, spawn, wait_until_ready
from pipeline.domain.errors import ConfigurationError

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


def start_minio(data: Path, port: int, user: str, password: str, log_path: Path) -> ManagedProcess:
    """MinIO on 127.0.0.1:``port`` over ``data``, waited for until healthy.

    Starting it again with the same arguments serves the same objects (the fault tests stop
    the store and bring it back this way).
    """
    if not os.access(MINIO_BINARY, os.X_OK):
        raise S3ServerError(
            f"{MINIO_BINARY} is missing: run `scripts/tools.sh minio` "
            f"(or set {ENV_KIND}=moto to use moto's emulator)"
        )
    data.mkdir(parents=True, exist_ok=True)
    command = [
        str(MINIO_BINARY),
        "server",
        str(data),
        "--address",
        f"127.0.0.1:{port}",
        "--console-address",
        f"127.0.0.1:{free_port()}",
        "--quiet",
    ]
    env = dict(os.environ) | {
        "MINIO_ROOT_USER": user,
        "MINIO_ROOT_PASSWORD": password,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
        # The data folder sits on the root disk in CI and containers; MinIO refuses
        # that outside CI mode.
        "MINIO_CI_CD": "1",
    }
    return _started("minio", command, env, port, log_path=log_path, health="/minio/health/live")


def _started(
    kind: str, command: list[str], env: dict[str, str], port: int, *, log_path: Path, health: str
) -> ManagedProcess:
    server = ManagedProcess(kind, spawn(command, log_path, env), port, log_path)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(server, lambda: http_ok(endpoint + health), START_TIMEOUT_SECONDS)
    except ConfigurationError as exc:
        raise S3ServerError(str(exc)) from exc
    return server


@contextlib.contextmanager
def _serve(tmp_dir: Path, kind: str) -> Iterator[S3Endpoint]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = tmp_dir / f"{kind}.log"
    if kind == "minio":
        user, password = "gallery-test", secrets.token_hex(16)
        server = start_minio(tmp_dir / "minio-data", port, user, password, log_path)
    else:
        user, password = "testing", "testing"
        moto = Path(sys.executable).with_name("moto_server")
        command = [str(moto), "-H", "127.0.0.1", "-p", str(port)]
        server = _started(
            kind, command, dict(os.environ), port, log_path=log_path, health="/moto-api/"
        )
    try:
        yield S3Endpoint(f"http://127.0.0.1:{port}", user, password, kind)
    finally:
        server.stop(STOP_TIMEOUT_SECONDS)
