"""The command line's arithmetic and decisions without servers: percentiles from histogram
buckets, rates across a process restart, what ``gallery up`` passes to its processes, sizes,
the tus state file, upload speeds, and PromQL that Prometheus's own checker accepts."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from rich.console import Console

from gallery.childenv import child_env
from gallery.commands.status import _work
from gallery.commands.upload import size_arg
from gallery.progress import FileResult, UploadDisplay, totals_line
from gallery.scrape import LATENCY, Scrape, parse, quantile, throughput
from gallery.stackfile import Endpoint
from gallery.status import promql
from gallery.tus import UploadState
from pipeline.domain.errors import ConfigurationError
from pipeline.runtime.metrics import LATENCY_BUCKETS

pytestmark = pytest.mark.unit

WORKER = Endpoint("worker-1", "worker", "http://127.0.0.1:1/metrics")
GATEWAY = Endpoint("gateway", "gateway", "http://127.0.0.1:2/metrics")


def exposition(acks: int, latency: dict[str, int], uploads: int = 0) -> str:
    lines = [
        f'gallery_jobs_total{{outcome="ack"}} {acks}',
        'gallery_jobs_total{outcome="retry"} 7',
        f'gallery_uploads_total{{outcome="accepted"}} {uploads}',
        "gallery_jobs_in_flight 1",
    ]
    lines += [
        f'gallery_upload_to_ready_seconds_bucket{{le="{le}"}} {count}'
        for le, count in latency.items()
    ]
    return "\n".join(lines) + "\n"


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    buckets = {1.0: 0.0, 2.0: 50.0, 5.0: 100.0, float("inf"): 100.0}
    assert quantile(0.5, buckets) == pytest.approx(2.0)
    assert quantile(0.95, buckets) == pytest.approx(2.0 + 3.0 * 45 / 50)
    assert quantile(0.5, {1.0: 0.0, float("inf"): 0.0}) is None
    # Everything beyond the last finite bound: that bound is the honest answer.
    assert quantile(0.5, {1.0: 0.0, float("inf"): 4.0}) == 1.0


def test_rates_and_percentiles_come_from_the_difference_of_two_scrapes() -> None:
    first = [
        parse(WORKER, exposition(10, {"1.0": 10, "2.0": 10, "+Inf": 10}), at=100.0),
        parse(GATEWAY, exposition(0, {}, uploads=5), at=100.0),
    ]
    last = [
        parse(WORKER, exposition(30, {"1.0": 10, "2.0": 30, "+Inf": 30}), at=110.0),
        parse(GATEWAY, exposition(0, {}, uploads=25), at=110.0),
    ]
    work = throughput(first, last, "test")
    assert work.renders_per_s == pytest.approx(2.0)
    assert work.uploads_per_s == pytest.approx(2.0)
    # The 20 new observations all fell between 1 s and 2 s.
    assert work.p50_seconds == pytest.approx(1.5)
    assert work.p50_since_start is not None
    assert work.p50_since_start < work.p50_seconds, "older fast renders pull it down"
    assert (work.workers_alive, work.workers_known, work.gateways_alive) == (1, 1, 1)


def test_a_restarted_worker_counts_from_zero_and_a_silent_one_is_not_alive() -> None:
    first = [parse(WORKER, exposition(100, {"+Inf": 100}), at=0.0)]
    last = [parse(WORKER, exposition(6, {"+Inf": 6}), at=3.0)]
    assert throughput(first, last, "t").renders_per_s == pytest.approx(2.0)
    down = [Scrape(WORKER, 3.0, up=False)]
    work = throughput(first, down, "t")
    assert (work.workers_alive, work.workers_known, work.renders_per_s) == (0, 1, None)


def test_up_passes_the_users_settings_and_reports_what_it_overrides() -> None:
    user = {
        "PATH": "/bin",
        "GALLERY_LIMITS_MAX_UPLOAD_BYTES": "2000000000",
        "gallery_renditions": "",
        "GALLERY_WORKER_CONCURRENCY": "3",
        "GALLERY_GATEWAY_PORT": "1",
        "GALLERY_TYPO_SETTING": "x",
        "GALLERY_API_KEY": "gk_client_only",
    }
    child = child_env({"GALLERY_GATEWAY_PORT": "8080", "GALLERY_NATS_URL": "nats://n"}, user)
    assert child.env["GALLERY_LIMITS_MAX_UPLOAD_BYTES"] == "2000000000"
    assert child.env["GALLERY_RENDITIONS"] == ""
    assert child.env["GALLERY_WORKER_CONCURRENCY"] == "3", "the user's value beats up's default"
    assert child.env["GALLERY_GATEWAY_PORT"] == "8080"
    assert child.env["PATH"] == "/bin"
    assert "GALLERY_TYPO_SETTING" not in child.env
    assert "GALLERY_API_KEY" not in child.env
    assert child.report() == [
        "gallery up: GALLERY_GATEWAY_PORT='1' overridden by '8080' (gallery up owns it)",
        "gallery up: GALLERY_TYPO_SETTING is not a setting; not passed on",
    ]


def test_up_refuses_invalid_settings_before_starting_anything() -> None:
    bad = {"GALLERY_LIMITS_MAX_UPLOAD_BYTES": "lots", "GALLERY_NATS_MAX_DELIVER": "0"}
    with pytest.raises(ConfigurationError) as caught:
        child_env({}, bad)
    assert "GALLERY_LIMITS_MAX_UPLOAD_BYTES" in str(caught.value)
    assert "GALLERY_NATS_MAX_DELIVER" in str(caught.value)


def test_sizes_read_like_people_write_them() -> None:
    assert size_arg("64M") == 64 * 1024**2
    assert size_arg("1g") == 1024**3
    assert size_arg("500kB") == 500 * 1024
    assert size_arg("1234") == 1234
    with pytest.raises(argparse.ArgumentTypeError):
        size_arg("big")


def test_totals_name_every_outcome_that_happened() -> None:
    results = [
        FileResult(Path("a"), 1, "ready"),
        FileResult(Path("b"), 1, "rejected", reason="HTTP 415"),
        FileResult(Path("c"), 1, "not ready"),
    ]
    assert totals_line(results) == (
        "3 file(s): 1 ready, 0 duplicate, 0 failed, 1 rejected, 1 not ready"
    )


def test_tus_state_forgets_an_upload_when_the_file_changes(tmp_path: Path) -> None:
    photo = tmp_path / "big.jpg"
    photo.write_bytes(b"x" * 10)
    state = UploadState(tmp_path / "state" / "uploads.json")
    key = state.key("http://gw", photo)
    state.put(key, "/v1/uploads/abc")
    assert UploadState(state.path).get(key) == "/v1/uploads/abc", "kept across runs"
    photo.write_bytes(b"y" * 11)
    assert state.get(state.key("http://gw", photo)) is None
    state.put(key, None)
    assert state.get(key) is None


def test_status_promql_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes from scripts/tools.sh (tox puts .tools/bin on PATH)"
    rules = ["groups:", "  - name: gallery-status", "    rules:"]
    for name, query in promql(300).items():
        rules += [f"      - record: gallery_status:{name}", f"        expr: '{query}'"]
    path = tmp_path / "rules.yaml"
    path.write_text("\n".join(rules) + "\n")
    checked = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def speeds(display: UploadDisplay) -> dict[str, str]:
    """The speed column as a user reads it, per row."""
    column = display.progress.columns[3]
    return {t.description: str(column.render(t)) for t in display.progress.tasks}


def test_upload_speed_is_blank_for_a_small_file_sent_in_milliseconds() -> None:
    clock = Clock()
    display = UploadDisplay(Console(file=io.StringIO()), files=1, total_bytes=300_000, clock=clock)
    photo = FileResult(Path("small.jpg"), 300_000)
    display.sending(photo)
    display.sent_bytes(photo.path, 0)
    clock.now += 0.001
    display.sent_bytes(photo.path, 150_000)
    clock.now += 0.000_002  # rich's own estimate divided by this gap: 75 GB/s
    display.sent_bytes(photo.path, 300_000)
    assert speeds(display) == {"sent": "", "processed": "", "small.jpg": ""}


def test_upload_speed_is_the_bytes_sent_now_over_the_time_taken() -> None:
    clock = Clock()
    display = UploadDisplay(
        Console(file=io.StringIO()), files=2, total_bytes=130_000_000, clock=clock
    )
    big, resumed = (
        FileResult(Path("big.tif"), 30_000_000),
        FileResult(Path("pano.tif"), 100_000_000),
    )
    display.sending(big)
    display.sending(resumed)
    display.sent_bytes(big.path, 0)  # a new upload starts from 0
    display.sent_bytes(resumed.path, 90_000_000)  # a tus upload resumed at 90 MB
    for _ in range(4):
        clock.now += 1.0
        display.sent_bytes(big.path, display.bytes[big.path] + 5_000_000)
        display.sent_bytes(resumed.path, display.bytes[resumed.path] + 2_500_000)
    assert speeds(display) == {
        "sent": "7.5 MB/s",  # 20 MB + 10 MB sent in this run over 4 s, not the 90 MB resumed
        "processed": "",
        "big.tif": "5.0 MB/s",
        "pano.tif": "2.5 MB/s",
    }
    states = {t.description: t.fields["state"] for t in display.progress.tasks}
    assert states["pano.tif"] == "resumed at 90.0 MB"
    assert states["big.tif"] == "sending (post)", "a new upload does not claim to resume"


def test_status_shows_renders_of_10_to_13_s_as_such_and_says_percentiles_are_estimates() -> None:
    # The newcomer's trial: renders of 10-13 s read as "p50 20 s, p95 29 s" with 10 s and 30 s
    # as neighbouring buckets. Observed through the gallery's own histogram buckets here.
    registry = CollectorRegistry()
    latency = Histogram(LATENCY, "", buckets=LATENCY_BUCKETS, registry=registry)
    first = [parse(WORKER, generate_latest(registry).decode(), at=0.0)]
    seconds = [10.1, 10.4, 10.9, 11.2, 11.6, 12.0, 12.3, 12.6, 12.8, 13.0]
    for value in seconds:
        latency.observe(value)
    last = [parse(WORKER, generate_latest(registry).decode(), at=10.0)]
    work = throughput(first, last, "test")
    assert work.mean_seconds == pytest.approx(sum(seconds) / len(seconds)), "the mean is exact"
    assert work.p50_seconds is not None
    assert 10.0 <= work.p50_seconds <= 13.0
    assert work.p95_seconds is not None
    assert work.p95_seconds <= 15.0
    assert (work.p50_bucket, work.p95_bucket) == ((10.0, 12.5), (12.5, 15.0))
    console = Console(file=io.StringIO(), width=120)
    console.print(_work(work))
    screen = " ".join(console.file.getvalue().split())  # type: ignore[attr-defined]
    assert "upload→ready mean" in screen
    assert "11.69 s" in screen
    assert "upload→ready p50 (est.)" in screen
    assert "≈11.8 s (10-12.5)" in screen
    assert "≈14.6 s (12.5-15)" in screen
    assert "p50/p95 are estimates interpolated inside histogram buckets" in screen


def _shown(image: dict[str, object]) -> str:
    from rich.console import Console

    from gallery.commands.images import _summary

    console = Console(width=120, record=True, color_system=None)
    console.print(_summary({"id": "01ABC", **image}, []))
    return console.export_text()


def test_show_says_what_a_video_and_a_motion_photo_are() -> None:
    video = _shown({"media": "video", "metadata": {"duration_seconds": 12.34}})
    assert "video" in video
    assert "12.3 s" in video
    motion = _shown({"media": "motion", "motion": {"source": "apple", "duration_seconds": 2.5}})
    assert "apple, 2.5 s" in motion
    broken = _shown({"media": "photo", "motion": None, "metadata": {"motion_error": "cut"}})
    assert "not playable: cut" in broken
