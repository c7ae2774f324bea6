"""``gallery up`` keeps its processes running: each one SIGKILLed in turn (nats-server, the
catalog, a worker, the gateway) is restarted, the restart is logged, and nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gallery.servers import free_port
from tests.e2e.test_gallery_up import start_up, stop, wait_for_banner
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def children(parent: int) -> dict[int, str]:
    """The direct children of ``parent``: pid -> command line (from /proc)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent:
            found[int(entry.name)] = cmdline
    return found


def child_pid(parent: int, needle: str) -> int:
    matches = [pid for pid, cmd in children(parent).items() if needle in cmd]
    assert matches, f"no child running {needle!r}: {children(parent)}"
    return matches[0]


def request(url: str, key: str, data: bytes | None = None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


def wait_ready(url: str, key: str, image_id: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, doc = request(f"{url}/v1/images/{image_id}", key)
        if status == 200 and doc.get("status") == "ready":
            return
        time.sleep(0.3)
    raise AssertionError(f"{image_id} not ready within {seconds:.0f} s")


def answer(url: str, key: str, image_id: str) -> tuple[int, object]:
    """The image's HTTP status and ``status`` once the gateway answers it (not 503 or refused
    while a restart runs)."""
    deadline = time.monotonic() + 90
    while True:
        status, doc = request(f"{url}/v1/images/{image_id}", key)
        if status not in (0, 503) or time.monotonic() > deadline:
            return status, doc.get("status")
        time.sleep(0.3)


def upload(url: str, key: str, seed: int) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # 503s and refused connections while a restart runs
        status, doc = request(f"{url}/v1/images", key, jpeg_bytes(320, 240, seed=seed))
        if status == 202:
            return str(doc["id"])
        time.sleep(0.5)
    raise AssertionError("no upload accepted within 90 s")


def test_up_restarts_every_process_that_dies_and_loses_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "gallery-data"
    ports = {name: free_port() for name in ("http", "nats", "mongo", "metrics", "monitor")}
    url = f"http://127.0.0.1:{ports['http']}"
    log = tmp_path / "up.log"
    up = start_up(data_dir, ports, log)
    try:
        wait_for_banner(up, log, 1)
        key = (data_dir / "api-key").read_text().strip()
        before = upload(url, key, seed=1)
        wait_ready(url, key, before)
        accepted = [before]
        for restarts, needle in enumerate(
            ("nats-server", "secantusd", "gallery.cli worker", "gallery.cli gateway"), start=1
        ):
            os.kill(child_pid(up.pid, needle), signal.SIGKILL)
            deadline = time.monotonic() + 60
            while log.read_text().count(" restarted (restart ") < restarts:
                assert time.monotonic() < deadline, log.read_text()
                assert up.poll() is None, log.read_text()
                time.sleep(0.2)
            # Every photo made ready before this kill is still ready: the catalog (SIGKILLed
            # too) acknowledged them only once they were in its journal.
            for image_id in accepted:
                assert answer(url, key, image_id) == (200, "ready"), (needle, image_id)
            accepted.append(upload(url, key, seed=10 + restarts))
            wait_ready(url, key, accepted[-1])
        text = log.read_text()
        for name in ("nats-server", "secantusd", "worker", "gateway"):
            assert f"{name}" in text
        assert "exited (status -9); restarting in 1s" in text
    finally:
        assert stop(up) == 0, log.read_text()
