"""Scale benchmark: every cost of the pipeline against the size of one tenant's library.

``python -m bench.scale --sizes 10000,100000,1000000`` (``make bench-scale``) starts
``gallery up`` (its embedded defaults, throw-away data folder), seeds a second tenant with
10,000 images, then for each size (ascending) grows the ``local`` tenant to that many
image documents through the catalog adapter's bulk path (:meth:`MongoCatalog.insert_images`:
the adapter's own shape, numbers and counters) and measures on the running stack:

- first page, a page at a random depth, each filtered first page (``status``, ``album``):
  ``GET /v1/images``, p95 of ``REPS``;
- a new upload's 202 and its upload-to-ready (polled), a duplicate's 200: p50;
- one pass of the sweepers' queries (stale images, expired uploads) and one batch of the
  reconcile/backfill walk: median;
- the whole ``gallery reconcile --dry-run``, ``gallery backfill --dry-run`` and
  ``gallery status`` commands against the stack (wall time);
- the catalog process's RSS and its CPU while the stack is idle.

Seeding is bounded by the catalog server's CPU (every index entry of every document), so
the seeding client writes without waiting for the journal (``j=false``: a lost seed costs a
re-run, never a user's photo) in batches of ``SEED_BATCH``. The run stops when the catalog's
RSS passes ``--max-rss-gb`` or the disk under the data folder has less than ``--min-free-gb``
left, and says so.

Prints every figure and its growth against the smallest size, writes
``bench/out/scale.json`` and draws ``docs/img/scale.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench import procs
from bench.plots import _plt
from bench.stack import Stack, embedded
from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.albums import AlbumRecord
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, WalkPosition, new_image_id
from pipeline.runtime.settings import MongoSettings
from tests.images import jpeg_bytes

OUT = Path(__file__).parent / "out"
PLOT = Path(__file__).parents[1] / "docs" / "img" / "scale.png"
TENANT, OTHER, ALBUM = "local", "other", "ALBUM0SCALE0BENCH000000000"
OTHER_SIZE = 10_000
SEED_BATCH = 10_000
REPS = 30
IDLE_SECONDS = 10.0
KEYS = (
    "first_page_p50_ms",
    "first_page_p95_ms",
    "deep_page_p95_ms",
    "filtered_first_page_p95_ms",
    "upload_202_p50_ms",
    "duplicate_p50_ms",
    "upload_to_ready_p50_ms",
    "sweeper_pass_ms",
    "walk_batch_ms",
    "reconcile_dry_run_s",
    "backfill_dry_run_s",
    "status_s",
    "catalog_rss_mb",
    "catalog_idle_cpu_pct",
)


def document(tenant: str, n: int) -> ImageRecord:
    """A photo's record as a finished upload leaves it (1 % failed, 10 % in the album)."""
    image_id = new_image_id()
    return ImageRecord(
        id=image_id,
        tenant=tenant,
        status="failed" if n % 100 == 7 else "ready",
        sha256=f"{tenant}{n:064x}"[-64:],
        content_type="image/jpeg",
        bytes=3_000_000 + n % 1000,
        width=4000,
        height=3000,
        filename=f"IMG_{n:07d}.jpg",
        original_key=f"originals/{tenant}/{image_id}",
        metadata={"Make": "Canon", "Model": "EOS R6", "DateTimeOriginal": "2024:06:01 12:00:00"},
        thumbhash="1QcSHQRnh493V4dIh4eXh1h4kJUI",
        albums=[ALBUM] if n % 10 == 0 else [],
        ready_at=utcnow(),
    )


class Stopped(Exception):
    """The guard stopped the run (its message says why)."""


class Guard:
    """Stops the run when the catalog grows past ``max_rss`` bytes or the data folder's disk
    has less than ``min_free`` bytes left (the machine is shared)."""

    def __init__(self, stack: Stack, max_rss: float, min_free: float) -> None:
        self.stack, self.max_rss, self.min_free = stack, max_rss, min_free
        self.peak_rss = 0

    def check(self) -> None:
        pid, _cpu = catalog_process(self.stack)
        rss = procs.rss_bytes(pid)
        self.peak_rss = max(self.peak_rss, rss)
        assert self.stack.data_dir is not None
        free = shutil.disk_usage(self.stack.data_dir).free
        if rss > self.max_rss:
            raise Stopped(f"catalog RSS {rss / 2**30:.1f} GiB passed the limit")
        if free < self.min_free:
            raise Stopped(f"{free / 2**30:.1f} GiB of disk left")


async def seed(catalog: MongoCatalog, tenant: str, have: int, upto: int, guard: Guard) -> float:
    """Grow ``tenant`` from ``have`` to ``upto`` documents; seconds it took."""
    started = time.perf_counter()
    for start in range(have, upto, SEED_BATCH):
        stop = min(upto, start + SEED_BATCH)
        await catalog.insert_images(tenant, [document(tenant, n) for n in range(start, stop)])
        guard.check()
        rate = (stop - have) / (time.perf_counter() - started)
        print(f"\r  seeding {tenant}: {stop}/{upto} ({rate:.0f}/s)", end="", flush=True)
    print()
    return time.perf_counter() - started


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed_get(session: aiohttp.ClientSession, url: str, **params: str) -> float:
    started = time.perf_counter()
    async with session.get(f"{url}/v1/images", params={"limit": "50", **params}) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"GET /v1/images {params} answered {response.status}")
    return (time.perf_counter() - started) * 1000


async def pages(session: aiohttp.ClientSession, url: str, size: int) -> dict[str, float]:
    first = [await timed_get(session, url) for _ in range(REPS)]
    deep = [
        await timed_get(session, url, cursor=str(random.randint(size // 10, size)))
        for _ in range(REPS)
    ]
    filtered = [
        max(
            await timed_get(session, url, status="ready"),
            await timed_get(session, url, status="failed"),
            await timed_get(session, url, album=ALBUM),
        )
        for _ in range(REPS)
    ]
    return {
        "first_page_p50_ms": statistics.median(first),
        "first_page_p95_ms": p(first, 0.95),
        "deep_page_p95_ms": p(deep, 0.95),
        "filtered_first_page_p95_ms": p(filtered, 0.95),
    }


async def uploads(session: aiohttp.ClientSession, url: str, size: int) -> dict[str, float]:
    accepted, ready, duplicate = [], [], []
    for n in range(5):
        data = jpeg_bytes(640, 480, seed=size + n)
        started = time.perf_counter()
        async with session.post(f"{url}/v1/images", data=data) as response:
            image_id = (await response.json())["id"]
            if response.status != 202:
                raise RuntimeError(f"upload answered {response.status}")
        accepted.append((time.perf_counter() - started) * 1000)
        while True:
            async with session.get(f"{url}/v1/images/{image_id}") as response:
                status = (await response.json())["status"]
            if status in {"ready", "failed"}:
                break
            await asyncio.sleep(0.02)
        ready.append((time.perf_counter() - started) * 1000)
        for _ in range(4):
            started = time.perf_counter()
            async with session.post(f"{url}/v1/images", data=data) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"duplicate answered {response.status}")
            duplicate.append((time.perf_counter() - started) * 1000)
    return {
        "upload_202_p50_ms": statistics.median(accepted),
        "upload_to_ready_p50_ms": statistics.median(ready),
        "duplicate_p50_ms": statistics.median(duplicate),
    }


async def background(catalog: MongoCatalog, size: int) -> dict[str, float]:
    sweeps, batches = [], []
    for _ in range(9):
        started = time.perf_counter()
        await catalog.stale_unfinished(timedelta(seconds=60), 500)
        await catalog.uploads.expired_uploads(utcnow(), 500)
        sweeps.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        await catalog.scan.scan_images(after=WalkPosition(TENANT, size // 2), limit=500)
        batches.append((time.perf_counter() - started) * 1000)
    return {
        "sweeper_pass_ms": statistics.median(sweeps),
        "walk_batch_ms": statistics.median(batches),
    }


def command(stack: Stack, *args: str) -> float:
    """Seconds ``gallery <args> --data-dir <the stack's>`` took; raises when it failed."""
    assert stack.data_dir is not None
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "gallery.cli", *args, "--data-dir", str(stack.data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # status: 1 = no worker busy, still an answer
        raise RuntimeError(f"gallery {' '.join(args)}: {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


async def commands(stack: Stack) -> dict[str, float]:
    run_ = asyncio.to_thread
    return {
        "reconcile_dry_run_s": await run_(command, stack, "reconcile", "--dry-run", "--json"),
        "backfill_dry_run_s": await run_(command, stack, "backfill", "--dry-run", "--json"),
        "status_s": await run_(command, stack, "status", "--json"),
    }


def catalog_process(stack: Stack) -> tuple[int, float]:
    """(pid, CPU seconds so far) of the stack's catalog server."""
    assert stack.root_pid is not None
    everything = procs.tree(stack.root_pid)
    by_pid = {proc.pid: proc for proc in everything}
    found = [x for x in everything if procs.role(x, stack.root_pid, by_pid) == "catalog"]
    return found[0].pid, found[0].cpu_seconds


async def idle(stack: Stack) -> dict[str, float]:
    await asyncio.sleep(2)  # let the last render's writes settle
    pid, before = catalog_process(stack)
    await asyncio.sleep(IDLE_SECONDS)
    _pid, after = catalog_process(stack)
    return {
        "catalog_rss_mb": procs.rss_bytes(pid) / 2**20,
        "catalog_idle_cpu_pct": 100 * (after - before) / IDLE_SECONDS,
    }


async def run(stack: Stack, sizes: list[int], guard: Guard, walks: bool = True) -> dict[str, Any]:
    assert stack.mongo_uri is not None
    settings = MongoSettings(uri=stack.mongo_uri, timeout_seconds=600, journal=False)
    result: dict[str, Any] = {"sizes": {}, "seed_seconds": {}}
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with (
        MongoCatalog.connect(settings) as catalog,
        aiohttp.ClientSession(headers=headers) as http,
    ):
        await catalog.albums.insert_album(AlbumRecord(id=ALBUM, tenant=TENANT, name="Scale"))
        await seed(catalog, OTHER, 0, OTHER_SIZE, guard)
        # Warm up gateway and worker (their first requests and render load code and fill
        # caches), so the smallest size is a fair baseline and not a cold start.
        await uploads(http, stack.url, 0)
        await pages(http, stack.url, OTHER_SIZE)
        have = 0
        for size in sorted(sizes):
            try:
                seconds = await seed(catalog, TENANT, have, size, guard)
            except Stopped as stop:
                print(f"\nstopped while seeding {size}: {stop}")
                result["stopped"] = f"seeding {size}: {stop}"
                break
            result["seed_seconds"][size] = round(seconds, 1)
            have = size
            figures = {
                **await pages(http, stack.url, size),
                **await uploads(http, stack.url, size),
                **await background(catalog, size),
                **(await commands(stack) if walks else {}),
                **await idle(stack),
            }
            have += 5  # the uploads
            # A figure not measured (--no-walks) is NaN: printed as nan, left out of the plot.
            figures = {k: figures.get(k, float("nan")) for k in KEYS}
            result["sizes"][size] = {k: round(figures[k], 2) for k in KEYS}
            print(f"{size:>9}: " + ", ".join(f"{k} {figures[k]:.1f}" for k in KEYS))
            result["peak_catalog_rss_mb"] = round(guard.peak_rss / 2**20, 1)
            save(result)  # what a long run measured so far survives its end
    return result


def save(result: dict[str, Any]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scale.json").write_text(json.dumps(result, indent=2) + "\n")


def report(result: dict[str, Any]) -> None:
    sizes = sorted(result["sizes"])
    base = result["sizes"][sizes[0]]
    print(f"\n{'figure':<28}" + "".join(f"{s:>12}" for s in sizes) + f"{'growth':>10}")
    for key in KEYS:
        row = [result["sizes"][s][key] for s in sizes]
        growth = row[-1] / base[key] if base[key] else float("nan")
        print(f"{key:<28}" + "".join(f"{v:>12.1f}" for v in row) + f"{growth:>9.2f}x")


def plot(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    sizes = sorted(result["sizes"])
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4))
    for key in KEYS[:9]:
        left.plot(sizes, [result["sizes"][s][key] for s in sizes], marker="o", label=key)
    left.set(xscale="log", yscale="log", xlabel="photos in the tenant", ylabel="ms")
    left.legend(fontsize=7)
    left.set_title("request and background costs")
    walked = [k for k in KEYS[9:12] if any(math.isfinite(result["sizes"][s][k]) for s in sizes)]
    for key in walked:
        middle.plot(sizes, [result["sizes"][s][key] for s in sizes], marker="o", label=key)
    if walked:
        middle.set(xscale="log", yscale="log", xlabel="photos in the tenant", ylabel="s")
        middle.legend(fontsize=7)
    else:  # --no-walks
        middle.text(0.5, 0.5, "not measured (--no-walks)", ha="center")
        middle.set_axis_off()
    middle.set_title("whole commands (walk every image)")
    for key in KEYS[12:]:
        right.plot(sizes, [result["sizes"][s][key] for s in sizes], marker="o", label=key)
    right.set(xscale="log", xlabel="photos in the tenant")
    right.legend(fontsize=7)
    right.set_title("catalog process")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated sizes")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-rss-gb", type=float, default=8.0, help="stop past this")
    parser.add_argument("--min-free-gb", type=float, default=3.0, help="stop below this")
    parser.add_argument(
        "--no-walks",
        action="store_true",
        help="skip the whole reconcile/backfill commands (minutes each at 1M)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with embedded(workers=args.workers) as stack:
        guard = Guard(stack, args.max_rss_gb * 2**30, args.min_free_gb * 2**30)
        result = asyncio.run(run(stack, sizes, guard, walks=not args.no_walks))
    report(result)
    save(result)
    plot(result, PLOT)
    print(f"\nwrote {OUT / 'scale.json'} and {PLOT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
