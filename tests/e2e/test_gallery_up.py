"""``gallery up`` and ``gallery upload`` as a user runs them: a folder of photos becomes ready,
Ctrl-C stops everything, and a restart keeps every photo."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from gallery.servers import free_port, port_open
from tests.images import jpeg_bytes, png_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def up_ports() -> dict[str, int]:
    """Ports for a two-worker ``gallery up``: the workers' metrics ports follow the gateway's
    (metrics + 1, + 2), so those must be free too (a CI run beside the cluster env once found
    one of them taken)."""
    while True:
        ports = {name: free_port() for name in ("http", "nats", "mongo", "metrics", "monitor")}
        workers = [ports["metrics"] + 1 + index for index in range(2)]
        if len(set(ports.values()) | set(workers)) == 7 and not any(map(port_open, workers)):
            return ports


def start_up(
    data_dir: Path, ports: dict[str, int], log: Path, *extra: str
) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "gallery.cli",
        "up",
        "--data-dir",
        str(data_dir),
        "--workers",
        "2",
        "--port",
        str(ports["http"]),
        "--nats-port",
        str(ports["nats"]),
        "--mongo-port",
        str(ports["mongo"]),
        "--metrics-port",
        str(ports["metrics"]),
        "--nats-monitor-port",
        str(ports["monitor"]),
        *extra,
    ]
    with log.open("ab") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def wait_for_banner(process: subprocess.Popen[bytes], log: Path, count: int) -> None:
    # The banner waits for the workers too (20-25 s after the gateway on a loaded machine).
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        if log.read_text().count("gallery is up") >= count:
            return
        assert process.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"gallery up did not come up:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    return process.wait(60)


def list_images(url: str, key: str) -> list[dict[str, object]]:
    request = urllib.request.Request(
        f"{url}/v1/images?limit=100", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        items: list[dict[str, object]] = json.load(response)["items"]
    return items


def test_up_upload_folder_stop_and_restart(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    (photos / "2026" / "summer").mkdir(parents=True)
    (photos / "a.jpg").write_bytes(jpeg_bytes(1600, 1200, seed=1))
    (photos / "2026" / "b.jpg").write_bytes(jpeg_bytes(900, 1200, orientation=8, seed=2))
    (photos / "2026" / "summer" / "c.png").write_bytes(png_bytes(500, 400, seed=3))
    data_dir = tmp_path / "gallery-data"
    ports = up_ports()
    url = f"http://127.0.0.1:{ports['http']}"
    log = tmp_path / "up.log"

    up = start_up(data_dir, ports, log)
    try:
        wait_for_banner(up, log, 1)
        key = (data_dir / "api-key").read_text().strip()
        assert key in log.read_text(), "the banner shows a ready API key"
        # The banner comes once an upload would be rendered: both workers answer ready.
        assert "waiting for 2 worker(s) to connect" in log.read_text().split("gallery is up")[0]
        assert "gallery is up: open" in log.read_text()
        assert "; 2 worker(s) ready" in log.read_text()
        for port in (ports["metrics"] + 1, ports["metrics"] + 2):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as ready:
                assert ready.status == 200
        upload = subprocess.run(
            [
                sys.executable,
                "-m",
                "gallery.cli",
                "upload",
                "--url",
                url,
                "--key",
                key,
                str(photos),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert upload.returncode == 0, upload.stderr
        assert "3/3 files" in upload.stderr
        assert "3 file(s): 3 ready, 0 duplicate, 0 failed, 0 rejected" in upload.stderr
    finally:
        assert stop(up) == 0, log.read_text()
    assert "stopped" in log.read_text()

    up = start_up(data_dir, ports, log)
    try:
        wait_for_banner(up, log, 2)
        assert (data_dir / "api-key").read_text().strip() == key, "the key survives a restart"
        images = list_images(url, key)
        assert sorted(str(i["filename"]) for i in images) == ["a.jpg", "b.jpg", "c.png"]
        assert {i["status"] for i in images} == {"ready"}
    finally:
        stop(up)


def test_second_up_on_the_same_folder_is_refused_and_leaves_the_first_alone(
    tmp_path: Path,
) -> None:
    """A second ``gallery up`` on a folder in use (on other ports) says who holds it and
    exits at once: no second NATS on the live store, the first stack keeps serving and its
    discovery file stays."""
    data_dir = tmp_path / "gallery-data"
    first, second = up_ports(), up_ports()
    log, log2 = tmp_path / "up.log", tmp_path / "up2.log"
    # Not waiting for the workers: the banner comes with the gateway and says so.
    up = start_up(data_dir, first, log, "--workers-wait", "0")
    try:
        wait_for_banner(up, log, 1)
        assert "0 of 2 worker(s) ready, the others still starting" in log.read_text()
        key = (data_dir / "api-key").read_text().strip()
        stack_file = data_dir / "stack.json"
        assert stack_file.exists()
        again = start_up(data_dir, second, log2)
        assert again.wait(60) != 0
        said = log2.read_text()
        assert f"another `gallery up` (pid {up.pid}) is running on" in said, said
        assert "Traceback" not in said
        assert "starting servers" not in said, "nothing was started on the folder"
        assert stack_file.exists(), "the running stack's discovery file stays"
        assert list_images(f"http://127.0.0.1:{first['http']}", key) == []
    finally:
        assert stop(up) == 0, log.read_text()
