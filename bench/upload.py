"""Upload benchmark: does the gateway's memory stay flat whatever the upload size?

Starts nats-server, SecantusDB and an object store (MinIO from ``.tools/bin`` for S3
multipart, or the filesystem store), then a real ``gallery gateway`` process, and streams
uploads of growing size (a valid JPEG header followed by filler, generated on the fly so the
client holds no body either). While each upload runs, the gateway's resident memory is
sampled from ``/proc``. Prints the median peak RSS growth and throughput per size, the ratio
of the largest to the smallest, writes ``bench/out/upload.json`` and draws
``bench/out/upload.png``.

    python -m bench.upload [--sizes-mb 1 16 64 256 1024] [--repeat 3] [--backend s3|filesystem]
        [--baseline]

``--baseline`` also uploads the same bodies, in the same run, to a bare aiohttp server that
streams each body to a file (:mod:`bench.baseline_server`) and prints the gateway's
throughput as a fraction of that baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp

from gallery.servers import (
    ManagedProcess,
    free_port,
    gallery_env,
    http_ok,
    mongo_uri,
    start_gallery,
    start_nats,
    start_secantus,
    wait_until_ready,
)
from pipeline.adapters.catalog import issue_api_key
from pipeline.runtime.settings import (
    LimitsSettings,
    MongoSettings,
    S3Settings,
    Settings,
    StorageSettings,
    to_env,
)
from tests.images import jpeg_bytes
from tests.s3server import start_s3_server

OUT = Path(__file__).parent / "out"
CHUNK = 256 * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all threads), from /proc (proc(5) stat 14-15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def body(size: int) -> AsyncIterator[bytes]:
    # A fresh nonce per upload: the gateway would answer a repeated body as a duplicate.
    head = jpeg_bytes(64, 48) + os.urandom(16)
    yield head
    sent = len(head)
    filler = bytes(range(256)) * (CHUNK // 256)
    while sent < size:
        piece = filler[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece


async def one_upload(url: str, key: str, size: int, pid: int) -> tuple[int, float]:
    """Upload ``size`` bytes; return (peak RSS during it, seconds)."""
    peak = rss_bytes(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_bytes(pid))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/v1/images", data=body(size), headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        payload = await response.json()
    seconds = time.perf_counter() - started
    done.set()
    await sampler
    if response.status != 202:
        raise RuntimeError(f"upload of {size} bytes answered {response.status}: {payload}")
    return peak, seconds


@contextlib.contextmanager
def servers(backend: str, tmp: Path) -> Iterator[Settings]:
    nats = start_nats(tmp / "nats")
    mongo = start_secantus(tmp / "mongo")
    try:
        limits = LimitsSettings(max_upload_bytes=2 * 1024**3)
        common = {
            "nats": {"url": f"nats://127.0.0.1:{nats.port}"},
            "mongo": MongoSettings(uri=mongo_uri(mongo.port), database="bench"),
            "limits": limits,
        }
        if backend == "filesystem":
            yield Settings(
                storage=StorageSettings(backend="filesystem", root=tmp / "objects"), **common
            )
        else:
            with start_s3_server(tmp / "s3") as s3:
                yield Settings(
                    storage=StorageSettings(backend="s3"),
                    s3=S3Settings(
                        endpoint=s3.endpoint,
                        bucket="bench",
                        access_key_id=s3.access_key_id,
                        secret_access_key=s3.secret_access_key,
                        create_bucket=True,
                    ),
                    **common,
                )
    finally:
        nats.stop()
        mongo.stop()


def start_gateway(settings: Settings, tmp: Path) -> tuple[ManagedProcess, str]:
    port, ops = free_port(), free_port()
    env = gallery_env(
        {
            **to_env(settings),
            "GALLERY_GATEWAY_HOST": "127.0.0.1",
            "GALLERY_GATEWAY_PORT": str(port),
            "GALLERY_METRICS_HOST": "127.0.0.1",
            "GALLERY_METRICS_PORT": str(ops),
            "GALLERY_LOG_LEVEL": "WARNING",
        }
    )
    gateway = start_gallery(["gateway"], env, tmp / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    # /readyz is on the ops listener only.
    ready = f"http://127.0.0.1:{ops}/readyz"
    wait_until_ready(gateway, lambda: http_ok(ready), seconds=60)
    return gateway, url


async def measure(
    url: str, key: str, pid: int, sizes_mb: list[int], repeat: int
) -> list[dict[str, float]]:
    await one_upload(url, key, 1024 * 1024, pid)  # warm-up: imports, connection pools
    rows = []
    for size_mb in sizes_mb:
        growth, rates, cpu = [], [], []
        for _ in range(repeat):
            baseline = rss_bytes(pid)
            cpu_before = cpu_seconds(pid)
            peak, seconds = await one_upload(url, key, size_mb * 1024 * 1024, pid)
            cpu.append((cpu_seconds(pid) - cpu_before) * 1000 / size_mb)
            growth.append((peak - baseline) / 1024**2)
            rates.append(size_mb / seconds)
        rows.append(
            {
                "size_mb": size_mb,
                "rss_growth_mb_median": statistics.median(growth),
                "rss_growth_mb_max": max(growth),
                "throughput_mb_s_median": statistics.median(rates),
                # CPU is what a loaded machine makes scarce: the robust figure of the two.
                "server_cpu_ms_per_mb_median": statistics.median(cpu),
                "gateway_rss_mb_after": rss_bytes(pid) / 1024**2,
            }
        )
        row = rows[-1]
        print(
            f"{size_mb:>6} MB  peak RSS growth median {row['rss_growth_mb_median']:6.1f} MB"
            f" (max {row['rss_growth_mb_max']:5.1f})  {row['throughput_mb_s_median']:6.1f} MB/s",
            flush=True,
        )
    return rows


@contextlib.contextmanager
def baseline_server(tmp: Path) -> Iterator[tuple[int, str]]:
    """The bare aiohttp-to-file server as a child process: (pid, url)."""
    port = free_port()
    args = [sys.executable, "-m", "bench.baseline_server", "--port", str(port)]
    proc = subprocess.Popen([*args, "--dir", str(tmp / "baseline")])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not http_ok(f"{url}/readyz"):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the baseline server did not start")
            time.sleep(0.05)
        yield proc.pid, url
    finally:
        proc.terminate()
        proc.wait(10)


def compare(rows: list[dict[str, float]], base: list[dict[str, float]]) -> None:
    for row, ref in zip(rows, base, strict=True):
        row["baseline_throughput_mb_s_median"] = ref["throughput_mb_s_median"]
        row["baseline_rss_growth_mb_max"] = ref["rss_growth_mb_max"]
        row["baseline_cpu_ms_per_mb_median"] = ref["server_cpu_ms_per_mb_median"]
        row["throughput_vs_baseline"] = (
            row["throughput_mb_s_median"] / ref["throughput_mb_s_median"]
        )
        print(
            f"{row['size_mb']:>6} MB  gateway {row['throughput_mb_s_median']:6.1f} MB/s, "
            f"bare aiohttp-to-file {ref['throughput_mb_s_median']:6.1f} MB/s: "
            f"{row['throughput_vs_baseline']:.2f} x the baseline; server CPU "
            f"{row['server_cpu_ms_per_mb_median']:.1f} vs {ref['server_cpu_ms_per_mb_median']:.1f}"
            " ms per MB"
        )


def plot(rows: list[dict[str, float]], backend: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size_mb"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(sizes, sizes, "--", color="grey", label="body size (a buffering gateway)")
    ax.plot(
        sizes, [r["rss_growth_mb_median"] for r in rows], "o-", label="gateway RSS growth, median"
    )
    ax.plot(sizes, [r["rss_growth_mb_max"] for r in rows], "x:", label="gateway RSS growth, worst")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("upload size (MB)")
    ax.set_ylabel("MB")
    ax.set_title(f"Gateway memory per upload ({backend} store)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[1, 16, 64, 256, 1024])
    parser.add_argument("--baseline", action="store_true", help="also measure a bare server")
    parser.add_argument("--repeat", type=int, default=3)
    minio = Path(__file__).parents[1] / ".tools" / "bin" / "minio"
    parser.add_argument(
        "--backend", choices=["s3", "filesystem"], default="s3" if minio.exists() else "filesystem"
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gallery-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with servers(args.backend, tmp) as settings:
            key = asyncio.run(issue_api_key(settings.mongo, "bench", "bench"))
            gateway, url = start_gateway(settings, tmp)
            try:
                print(
                    f"backend {args.backend}, gateway pid {gateway.process.pid}, "
                    f"baseline RSS {rss_bytes(gateway.process.pid) / 1024**2:.1f} MB"
                )
                rows = asyncio.run(
                    measure(url, key, gateway.process.pid, args.sizes_mb, args.repeat)
                )
            finally:
                gateway.stop()
        if args.baseline:
            with baseline_server(tmp) as (pid, base_url):
                print(f"baseline: bare aiohttp-to-file server, pid {pid}")
                base = asyncio.run(measure(base_url, key, pid, args.sizes_mb, args.repeat))
            compare(rows, base)
    # The baseline is the body itself: what a gateway that buffers the upload would hold.
    for row in rows:
        row["growth_vs_body"] = row["rss_growth_mb_max"] / row["size_mb"]
    largest = rows[-1]
    print(
        f"largest upload {largest['size_mb']} MB: worst peak RSS growth "
        f"{largest['rss_growth_mb_max']:.1f} MB = {largest['growth_vs_body']:.4f} x the body"
    )
    (OUT / "upload.json").write_text(
        json.dumps(
            {"backend": args.backend, "rows": rows, "load_average": os.getloadavg()}, indent=2
        )
    )
    plot(rows, args.backend, OUT / "upload.png")
    print(f"wrote {OUT / 'upload.json'} and {OUT / 'upload.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
