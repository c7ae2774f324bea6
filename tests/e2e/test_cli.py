"""The command line as a user and a script see it, against one real ``gallery up``: upload
with a progress display and a summary, ls, show, status, JSON, exit codes, and ``gallery up``
passing the user's settings through (a raised upload limit really takes effect)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gallery.servers import free_port, http_ok
from gallery.tus import UploadState
from tests.images import jpeg_bytes, png_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

MiB = 1024 * 1024
RAISED_LIMIT = 120 * MiB  # above the 100 MiB default


@dataclass
class Up:
    data_dir: Path
    url: str
    key: str
    log: Path
    ports: dict[str, int]

    def gallery(
        self, *args: str, timeout: float = 180, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``gallery ARGS`` in a shell without GALLERY_ variables, pointed at this stack."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
        return subprocess.run(
            [sys.executable, "-m", "gallery.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
        )

    def client(
        self, command: str, *args: str, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.gallery(command, "--data-dir", str(self.data_dir), *args, cwd=cwd)


def wait_for(condition: Any, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not {what} after {seconds}s")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    root = tmp_path_factory.mktemp("cli")
    data_dir = root / "data"
    ports = {n: free_port() for n in ("http", "nats", "monitor", "mongo")}
    ports["metrics"] = free_port()
    log = root / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    # The user's configuration: one setting gallery up must honour, one it must override.
    env["GALLERY_LIMITS_MAX_UPLOAD_BYTES"] = str(RAISED_LIMIT)
    env["GALLERY_GATEWAY_PORT"] = "1"
    args = ["up", "--data-dir", str(data_dir), "--workers", "2", "--port", str(ports["http"])]
    args += ["--nats-port", str(ports["nats"]), "--nats-monitor-port", str(ports["monitor"])]
    args += ["--mongo-port", str(ports["mongo"]), "--metrics-port", str(ports["metrics"])]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gallery.cli", *args], stdout=out, stderr=subprocess.STDOUT,
            env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        # The banner waits for the workers too: 20-25 s after the gateway on a loaded machine.
        wait_for(
            lambda: "gallery is up" in log.read_text() or process.poll() is not None,
            "up",
            seconds=150,
        )
        assert process.poll() is None, log.read_text()
        key = (data_dir / "api-key").read_text().strip()
        yield Up(data_dir, f"http://127.0.0.1:{ports['http']}", key, log, ports)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(90)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    seed = time.monotonic_ns() % 10_000  # new bytes per test: no duplicates across tests
    (folder / "a.jpg").write_bytes(jpeg_bytes(1200, 900, seed=seed))
    (folder / "b.png").write_bytes(png_bytes(400, 300, seed=seed + 1))
    (folder / "notes.txt").write_bytes(b"not a photo")
    return folder


def test_up_reports_the_setting_it_overrides_and_opens_the_monitoring_port(up: Up) -> None:
    text = up.log.read_text()
    assert "GALLERY_GATEWAY_PORT='1' overridden by" in text
    assert "GALLERY_LIMITS_MAX_UPLOAD_BYTES" not in text, "honoured, so not reported"
    with urllib.request.urlopen(f"http://127.0.0.1:{up.ports['monitor']}/varz", timeout=5) as r:
        assert json.load(r)["jetstream"]["config"]["store_dir"].startswith(str(up.data_dir))


def test_up_refuses_a_port_in_use_naming_it(up: Up, tmp_path: Path) -> None:
    again = up.gallery(
        "up", "--data-dir", str(tmp_path / "other"), "--port", str(free_port()),
        "--nats-port", str(free_port()), "--mongo-port", str(free_port()),
        "--metrics-port", str(free_port()), "--nats-monitor-port", str(up.ports["monitor"]),
        timeout=60,
    )  # fmt: skip
    assert again.returncode == 2, again.stderr
    assert f"{up.ports['monitor']} (nats monitoring)" in again.stderr


def test_upload_shows_progress_and_a_summary_then_ls_and_show(up: Up, photos: Path) -> None:
    done = up.client("upload", "photos", cwd=photos.parent)
    assert done.returncode == 0, "a text file in a folder is skipped, not a failure"
    assert "3 file(s): 2 ready, 0 duplicate, 0 failed, 0 rejected, 1 skipped" in done.stderr
    assert "sent" in done.stderr
    assert "processed" in done.stderr
    assert "2/2 files" in done.stderr
    summary = done.stdout
    assert "upload summary" in summary
    assert "notes.txt" in summary
    assert "not a photo" in summary
    named = up.client("upload", str(photos / "notes.txt"))
    assert named.returncode == 1, "a file named on its own is sent, and refused"
    assert "not a supported image" in named.stdout
    again = up.client("upload", str(photos / "a.jpg"), "--json")
    assert again.returncode == 0, again.stderr
    (result,) = json.loads(again.stdout)["files"]
    assert result["outcome"] == "duplicate"

    listed = up.client("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {i["filename"]: i for i in json.loads(listed.stdout)}
    assert {"a.jpg", "b.png"} <= set(names)
    table = up.client("ls", "--status", "ready").stdout
    assert "a.jpg" in table
    assert "ready" in table
    assert "a.jpg" not in up.client("ls", "--status", "failed").stdout

    shown = up.client("show", str(names["a.jpg"]["id"]))
    assert shown.returncode == 0, shown.stderr
    for expected in ("1200 x 900", "renditions", "thumb", "preview", "large", "image/webp"):
        assert expected in shown.stdout
    missing = up.client("show", "01M8KT76Y0ZHH75JXM7F5EFS00")
    assert missing.returncode == 4
    assert "no image" in missing.stderr


def test_album_is_created_once_and_every_photo_lands_in_it(up: Up, photos: Path) -> None:
    first = up.client("upload", str(photos / "a.jpg"), "--album", "Holiday 2026")
    assert first.returncode == 0, first.stdout + first.stderr
    second = up.client("upload", str(photos / "a.jpg"), str(photos / "b.png"),
                       "--album", "Holiday 2026", "--json")  # fmt: skip
    assert second.returncode == 0, second.stdout + second.stderr
    outcomes = {Path(f["path"]).name: f for f in json.loads(second.stdout)["files"]}
    assert outcomes["a.jpg"]["outcome"] == "duplicate"
    assert outcomes["b.png"]["outcome"] == "ready"

    listed = up.client("ls", "--album", "Holiday 2026", "--json")
    assert listed.returncode == 0, listed.stderr
    in_album = {i["filename"] for i in json.loads(listed.stdout)}
    assert in_album == {"a.jpg", "b.png"}, "the duplicate was added too"
    shown = up.client("show", outcomes["b.png"]["image_id"])
    assert "Holiday 2026" in shown.stdout
    unknown = up.client("ls", "--album", "No such album")
    assert unknown.returncode == 4
    assert "no album named" in unknown.stderr


def test_share_an_album_open_it_without_a_key_list_and_revoke(up: Up, photos: Path) -> None:
    def share(action: str, *args: str) -> subprocess.CompletedProcess[str]:
        return up.gallery("share", action, "--data-dir", str(up.data_dir), *args)

    uploaded = up.client("upload", str(photos / "b.png"), "--album", "To share")
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    made = share("create", "--album", "To share", "--expires", "3600")
    assert made.returncode == 0, made.stderr
    url = made.stdout.strip()
    token = url.rsplit("/shared/", 1)[1]
    with urllib.request.urlopen(f"{up.url}/v1/shared/{token}/images") as answer:  # no key
        items = json.loads(answer.read())["items"]
    assert [i["filename"] for i in items] == ["b.png"]
    listed = share("list", "--json")
    (link,) = [s for s in json.loads(listed.stdout) if not s["revoked_at"]]
    assert link["uses"] == 0, "listing images is not an opening of the link page"
    assert share("revoke", link["id"]).returncode == 0
    table = share("list").stdout
    assert "revoked" in table
    missing = share("create", "--album", "No such album")
    assert missing.returncode == 4


def test_usage_shows_the_gallery_the_trash_and_the_quota(up: Up, photos: Path) -> None:
    uploaded = up.client("upload", str(photos / "a.jpg"), "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    before = json.loads(up.client("usage", "--json").stdout)
    (image_id,) = [f["image_id"] for f in json.loads(uploaded.stdout)["files"]]
    request = urllib.request.Request(
        f"{up.url}/v1/images/{image_id}",
        method="DELETE",
        headers={"Authorization": f"Bearer {up.key}"},
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 204
    after = json.loads(up.client("usage", "--json").stdout)
    assert after["photos"] == before["photos"] - 1
    assert after["trash"]["photos"] == before["trash"]["photos"] + 1
    assert after["quota"]["counted_images"] == before["quota"]["counted_images"]
    table = up.client("usage")
    assert table.returncode == 0, table.stderr
    assert "trash" in table.stdout
    assert "quota:" in table.stdout


def test_an_album_name_typed_decomposed_is_the_same_album(up: Up, photos: Path) -> None:
    composed = "Caf\u00e9 \u00e0 Montr\u00e9al"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    first = up.client("upload", str(photos / "a.jpg"), "--album", composed)
    assert first.returncode == 0, first.stdout + first.stderr
    second = up.client("upload", str(photos / "b.png"), "--album", decomposed)
    assert second.returncode == 0, second.stdout + second.stderr
    for typed in (composed, decomposed):
        listed = up.client("ls", "--album", typed, "--json")
        assert listed.returncode == 0, listed.stderr
        assert {i["filename"] for i in json.loads(listed.stdout)} == {"a.jpg", "b.png"}


def test_wrong_key_and_unreachable_gateway_have_their_exit_codes(up: Up, photos: Path) -> None:
    refused = up.client("ls", "--key", "gk_wrong")
    assert refused.returncode == 2
    assert "API key was refused" in refused.stderr
    away = up.client("ls", "--url", f"http://127.0.0.1:{free_port()}")
    assert away.returncode == 3
    assert "cannot reach the gateway" in away.stderr


def test_raised_upload_limit_from_the_environment_takes_effect(up: Up, tmp_path: Path) -> None:
    # A small JPEG followed by 101 MiB of padding after its end marker: decoders stop at
    # the marker, so it renders quickly, yet it is over the 100 MiB default limit.
    big = tmp_path / "big.jpg"
    with big.open("wb") as out:
        out.write(jpeg_bytes(64, 48, seed=5))
        for _ in range(101):
            out.write(b"\0" * MiB)
    done = up.client("upload", str(big), "--tus-threshold", "1G", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(done.stdout)["files"]
    assert result["outcome"] == "ready", result


def test_status_shows_queues_workers_and_latency(up: Up, photos: Path) -> None:
    assert up.client("upload", str(photos / "b.png")).returncode in (0, 1)
    report = up.client("status", "--json", "--interval", "0.5")
    assert report.returncode == 0, report.stdout + report.stderr
    state = json.loads(report.stdout)
    consumers = {c["name"]: c for c in state["bus"]["consumers"]}
    assert set(consumers) == {"render", "backfill", "cleanup", "video"}
    assert consumers["render"]["pending"] == 0
    assert state["bus"]["dead_letters"] == 0
    work = state["throughput"]
    assert (work["workers_alive"], work["workers_known"], work["gateways_alive"]) == (2, 2, 1)
    assert work["p50_since_start"] is not None
    assert work["p95_since_start"] is not None
    assert state["healthy"] is True

    screen = up.client("status", "--interval", "0.5")
    assert screen.returncode == 0, screen.stderr
    for expected in ("queues (JetStream)", "render", "dead letters", "workers alive", "2/2"):
        assert expected in screen.stdout
    assert "upload→ready p95" in screen.stdout


def test_status_without_nats_says_so_with_exit_code_3(up: Up) -> None:
    away = up.gallery("status", "--nats", f"nats://127.0.0.1:{free_port()}",
                      "--metrics", f"worker=http://127.0.0.1:{free_port()}/metrics")  # fmt: skip
    assert away.returncode == 3
    assert "cannot connect to NATS" in away.stdout
    assert "0/1" in away.stdout


@pytest.fixture
def prometheus(up: Up, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping the stack every second, with deploy/'s job labels."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus comes from scripts/tools.sh (tox puts .tools/bin on PATH)"
    stack = json.loads((up.data_dir / "stack.json").read_text())
    jobs: dict[str, list[str]] = {"gallery-gateway": [], "gallery-worker": []}
    for endpoint in stack["endpoints"]:
        host = endpoint["metrics_url"].split("/")[2]
        jobs[f"gallery-{endpoint['role']}"].append(host)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": targets}]}
            for job, targets in jobs.items()
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for(lambda: http_ok(f"{url}/-/ready"), "Prometheus ready")
        yield url
    finally:
        process.terminate()
        process.wait(30)


def test_status_reads_rates_and_latency_from_prometheus(
    up: Up, photos: Path, prometheus: str
) -> None:
    def report() -> dict[str, Any]:
        done = up.client("status", "--prometheus", prometheus, "--window", "60", "--json")
        assert done.returncode in (0, 1), done.stdout + done.stderr
        return dict(json.loads(done.stdout))

    wait_for(lambda: (report()["throughput"] or {}).get("workers_alive") == 2, "scraped")
    assert up.client("upload", str(photos / "a.jpg"), str(photos / "b.png")).returncode == 0
    latest: dict[str, Any] = {}

    def rendered() -> bool:
        latest.update(report())
        work = latest["throughput"]
        return bool(work["renders_per_s"]) and work["p95_seconds"] is not None

    try:
        wait_for(rendered, "renders and latency in Prometheus", seconds=120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {latest}") from None
    work = latest["throughput"]
    assert work["source"] == f"prometheus {prometheus}"
    assert (work["workers_alive"], work["workers_known"], work["gateways_alive"]) == (2, 2, 1)
    assert work["uploads_per_s"] > 0
    assert 0 < work["p50_seconds"] <= work["p95_seconds"]
    assert latest["healthy"] is True


def test_status_with_prometheus_away_exits_3(up: Up) -> None:
    away = up.client("status", "--prometheus", f"http://127.0.0.1:{free_port()}")
    assert away.returncode == 3
    assert "Prometheus" in away.stdout


def padded_jpeg(path: Path, mib: int, seed: int) -> Path:
    """A small JPEG and ``mib`` MiB of padding after its end marker (renders in no time)."""
    with path.open("wb") as out:
        out.write(jpeg_bytes(64, 48, seed=seed))
        for _ in range(mib):
            out.write(b"\0" * MiB)
    return path


def tus_request(up: Up, method: str, url: str, body: bytes = b"", **headers: str) -> Any:
    request = urllib.request.Request(
        url, data=body or None, method=method,
        headers={"Authorization": f"Bearer {up.key}", "Tus-Resumable": "1.0.0", **headers},
    )  # fmt: skip
    return urllib.request.urlopen(request, timeout=30)


def test_large_file_goes_through_tus_and_resumes_at_the_servers_offset(
    up: Up, tmp_path: Path
) -> None:
    big = padded_jpeg(tmp_path / "pano.jpg", 20, seed=time.monotonic_ns() % 10_000)
    state = UploadState(tmp_path / "uploads.json")
    # What an earlier run left: an upload created, its first 3 MiB sent, its URL remembered.
    with tus_request(up, "POST", f"{up.url}/v1/uploads", **{
        "Upload-Length": str(big.stat().st_size),
        "Upload-Metadata": "filename " + base64.b64encode(b"pano.jpg").decode(),
    }) as created:  # fmt: skip
        location = created.headers["Location"]
    head = big.read_bytes()[: 3 * MiB]
    with tus_request(up, "PATCH", f"{up.url}{location}", head, **{
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
    }) as patched:  # fmt: skip
        assert patched.headers["Upload-Offset"] == str(3 * MiB)
    state.put(UploadState.key(up.url, big), location)

    done = up.client("upload", str(big), "--tus-threshold", "1M", "--state-file",
                     str(state.path), "--json")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(done.stdout)["files"]
    assert (result["via"], result["outcome"]) == ("tus", "ready"), result
    assert result["resumed_from"] == 3 * MiB, "only the rest was sent"
    assert result["reason"] == "resumed at 3.1 MB"
    assert state.get(UploadState.key(up.url, big)) is None, "a finished upload is forgotten"


RESTORE_SIGINT = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from gallery.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_ctrl_c_during_a_tus_upload_then_the_same_command_finishes_it(
    up: Up, tmp_path: Path
) -> None:
    big = padded_jpeg(tmp_path / "huge.jpg", 110, seed=time.monotonic_ns() % 10_000)
    state = tmp_path / "uploads.json"
    command = [sys.executable, "-m", "gallery.cli", "upload", "--data-dir", str(up.data_dir),
               str(big), "--tus-threshold", "1M", "--tus-chunk", "1M", "--state-file",
               str(state), "--json"]  # fmt: skip
    # Ctrl-C handling restored in the child: a test run started in the background (nohup,
    # `cmd &` in a script) inherits SIGINT ignored, Python then never raises
    # KeyboardInterrupt, and the "interrupted" upload simply finished (background CI runs).
    command[1:3] = ["-c", RESTORE_SIGINT]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: state.exists() and bool(json.loads(state.read_text())), "upload created")
    first.send_signal(signal.SIGINT)  # what Ctrl-C sends
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130, out + err
    assert "run the same command again" in err
    assert json.loads(out)["files"][0]["outcome"] == "interrupted"
    assert len(json.loads(state.read_text())) == 1, "the upload URL is kept for the next run"

    again = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    (result,) = json.loads(again.stdout)["files"]
    assert (result["via"], result["outcome"]) == ("tus", "ready"), result
    assert json.loads(state.read_text()) == {}
