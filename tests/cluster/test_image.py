"""The project image, built with podman from the Dockerfile on a locally made Debian base.

scripts/cluster/images.sh built it (tox env ``cluster``); these tests run it the way the
manifests do: as its own non-root user, with a read-only root filesystem and /tmp writable.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from gallery.servers import ManagedProcess, free_port
from tests.cluster.kube import wait_for
from tests.cluster.tools import script

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def image() -> str:
    return script("images.sh", "tag", "app")


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def run_readonly(image: str, *args: str) -> subprocess.CompletedProcess[str]:
    """As Kubernetes runs it: read-only root, a tmpfs on /tmp, every capability dropped."""
    return podman(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        image,
        *args,
    )


def test_image_runs_as_the_non_root_user_the_manifests_expect(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    print(f"\nimage {image}: {int(inspected['Size']) / 1e6:.0f} MB")
    assert inspected["Config"]["User"] == "10001:10001"
    result = run_readonly(image, "--help")
    assert result.returncode == 0, result.stderr
    uid = podman("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip()
    assert uid == "10001"


def test_gallery_help_lists_both_commands_on_a_read_only_root(image: str) -> None:
    result = run_readonly(image, "--help")
    assert result.returncode == 0, result.stderr
    assert "gateway" in result.stdout
    assert "worker" in result.stdout


def test_root_filesystem_is_read_only_and_tmp_is_writable(image: str) -> None:
    probe = (
        "import pathlib\n"
        "pathlib.Path('/tmp/ok').write_text('x')\n"
        "try:\n"
        "    pathlib.Path('/opt/gallery/x').write_text('x')\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno)\n"
    )
    result = podman(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--entrypoint",
        "python",
        image,
        "-c",
        probe,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused 30")  # EROFS


@pytest.fixture
def gateway_container(
    image: str, nats_server: ManagedProcess, mongo_server_uri: str
) -> Iterator[str]:
    """The gateway in the image against this session's NATS and SecantusDB on loopback."""
    port, metrics = free_port(), free_port()
    env = {
        "GALLERY_NATS_URL": f"nats://127.0.0.1:{nats_server.port}",
        "GALLERY_MONGO_URI": mongo_server_uri,
        "GALLERY_STORAGE_BACKEND": "filesystem",
        "GALLERY_STORAGE_ROOT": "/tmp/objects",
        "GALLERY_GATEWAY_HOST": "127.0.0.1",
        "GALLERY_GATEWAY_PORT": str(port),
        "GALLERY_METRICS_HOST": "127.0.0.1",
        "GALLERY_METRICS_PORT": str(metrics),
    }
    flags = [f"--env={k}={v}" for k, v in env.items()]
    started = podman(
        "run",
        "-d",
        "--rm",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        *flags,
        image,
        "gateway",
    )
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        print(podman("logs", "--tail", "30", container).stderr)
        podman("rm", "-f", "-t", "5", container)


def test_gateway_in_the_image_answers_healthz(gateway_container: str) -> None:
    def healthz() -> bool:
        with urllib.request.urlopen(f"{gateway_container}/healthz", timeout=3) as response:
            return bool(response.status == 200)

    assert wait_for("the containerised gateway's /healthz", healthz, timeout=90)
