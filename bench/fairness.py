"""Fairness and priority on ``make up``'s defaults: does one tenant's import (or a backfill)
hold up another tenant's photo?

One run, on one fresh ``gallery up`` (:mod:`bench.stack`):

1. **B idle**: tenant B uploads ``--idle`` photos one at a time into the idle stack; B's
   upload-to-ready p50 is the baseline of the run.
2. **A alone**: tenant A uploads ``-n`` photos in one burst (``-c`` parallel clients); A's time
   is first upload to last ``ready``.
3. **A with B**: A uploads ``-n`` other photos the same way; ``--b-start`` seconds in, B uploads
   one photo every ``--b-interval`` seconds, ``--b-photos`` times (each on its own, like a
   person would). Figures: B's p50/p95 against B idle, A's time against A alone.
4. **Backfill alone / with B**: the same with ``-n`` re-renders of A's photos queued the way
   ``gallery reconcile`` queues them (``gallery.job.backfill``, reason ``reconcile``) instead
   of A's uploads.

Readiness is read from the bus (``gallery.image.ready.>``), so measuring costs the stack
nothing. ``--json`` prints the figures (the issue's keys); ``--runs`` repeats on fresh stacks
and reports medians; ``--code DIR`` runs the stack from another checkout (a ``git archive`` of
an older commit: the before figures) while this process measures.

    python -m bench.fairness [-n 1000] [--runs 3] [--json] [--code DIR] [--tag before]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import nats

from bench import plots
from bench.stack import Stack, embedded
from pipeline.adapters.catalog import issue_api_key
from pipeline.domain.messages import RenderJob, utcnow
from pipeline.runtime.settings import MongoSettings
from tests.images import jpeg_bytes

OUT = Path(__file__).parent / "out"
TENANT_A = "tenant-a"


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=1000, help="photos in A's burst")
    parser.add_argument("-c", "--clients", type=int, default=8, help="A's parallel clients")
    parser.add_argument("--size", default="1600x1200", help="photo size WxH (generated JPEGs)")
    parser.add_argument("--idle", type=int, default=5, help="B's photos on the idle stack")
    parser.add_argument("--b-photos", type=int, default=20, help="B's photos during the load")
    parser.add_argument("--b-start", type=float, default=10.0, help="seconds before B's first")
    parser.add_argument(
        "--b-interval",
        type=float,
        default=0.0,
        help="seconds between B's photos (0: spread over A's time alone)",
    )
    parser.add_argument("--runs", type=int, default=1, help="fresh stacks; medians reported")
    parser.add_argument("--code", type=Path, help="run the stack from this checkout")
    parser.add_argument("--workers", type=int, help="worker processes (default: gallery up's)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the stack")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("BEFORE", "AFTER"),
        help="no run: plot two result files side by side into docs/img/bench-fairness.png",
    )
    return parser.parse_args()


class Ready:
    """Time of each ``ready`` event per image id, from the moment of the last ``reset``."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def on_msg(self, msg: Any) -> None:
        event = json.loads(msg.data)
        self.at.setdefault(event["image_id"], time.perf_counter())
        self.changed.set()

    def reset(self, ids: Sequence[str]) -> None:
        for image_id in ids:
            self.at.pop(image_id, None)

    async def wait(self, ids: Sequence[str], timeout: float = 3600) -> float:
        """Seconds (perf_counter) of the last of ``ids`` to turn ready."""
        deadline = time.monotonic() + timeout
        while not set(ids) <= self.at.keys():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(set(ids) - self.at.keys())} image(s) not ready")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)
        return max(self.at[i] for i in ids)


class Bench:
    def __init__(self, stack: Stack, args: argparse.Namespace, ready: Ready) -> None:
        self.stack, self.args, self.ready = stack, args, ready
        width, height = (int(v) for v in args.size.split("x"))
        self.size = (width, height)
        self.seed = 0

    def photo(self) -> bytes:
        self.seed += 1
        return jpeg_bytes(*self.size, seed=self.seed, quality=85)

    async def upload(self, session: aiohttp.ClientSession, key: str, data: bytes) -> str:
        async with session.post(
            f"{self.stack.url}/v1/images",
            data=data,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "image/jpeg"},
        ) as response:
            body = await response.json(content_type=None)
        if response.status != 202:
            raise RuntimeError(f"upload answered {response.status}: {body}")
        return str(body["id"])

    async def one(self, session: aiohttp.ClientSession, key: str, data: bytes) -> float:
        """One photo on its own: upload start to ready, in seconds."""
        started = time.perf_counter()
        image_id = await self.upload(session, key, data)
        return await self.ready.wait([image_id]) - started

    async def burst(
        self, session: aiohttp.ClientSession, key: str, photos: list[bytes]
    ) -> tuple[float, list[str]]:
        """A's burst: every photo from ``clients`` clients; (seconds to the last ready, ids)."""
        started, queue, ids = time.perf_counter(), list(photos), []

        async def client() -> None:
            while queue:
                ids.append(await self.upload(session, key, queue.pop()))

        await asyncio.gather(*(client() for _ in range(self.args.clients)))
        return await self.ready.wait(ids) - started, ids

    async def backfill(self, ids: list[str], tenant: str) -> float:
        """Queue a re-render of each image as ``gallery reconcile`` does; seconds to the last."""
        self.ready.reset(ids)
        nc = await nats.connect(self.stack.nats_url or "")
        js = nc.jetstream()
        started = time.perf_counter()
        for image_id in ids:
            job = RenderJob(
                image_id=image_id,
                tenant=tenant,
                original_key=f"originals/{tenant}/{image_id}",
                uploaded_at=utcnow(),
                reason="reconcile",
            )
            await js.publish(
                "gallery.job.backfill",
                job.to_bytes(),
                headers={"Nats-Msg-Id": f"bench:{image_id}:{started}"},
            )
        await nc.close()
        return await self.ready.wait(ids) - started

    async def b_during(
        self, session: aiohttp.ClientSession, key: str, interval: float
    ) -> list[float]:
        await asyncio.sleep(self.args.b_start)
        latencies: list[float] = []
        for _ in range(self.args.b_photos):
            tick = time.perf_counter()
            latencies.append(await self.one(session, key, self.photo()))
            await asyncio.sleep(max(interval - (time.perf_counter() - tick), 0.0))
        return latencies


async def one_run(stack: Stack, args: argparse.Namespace) -> dict[str, float]:
    mongo = MongoSettings(uri=stack.mongo_uri or "")
    key_a = await issue_api_key(mongo, TENANT_A, "bench")
    key_b = await issue_api_key(mongo, "tenant-b", "bench")
    ready = Ready()
    nc = await nats.connect(stack.nats_url or "")
    await nc.subscribe("gallery.image.ready.>", cb=ready.on_msg)
    bench = Bench(stack, args, ready)
    out: dict[str, float] = {}

    def progress(what: str) -> None:
        print(f"  {what}: {json.dumps({k: round(v, 2) for k, v in out.items()})}", file=sys.stderr)

    try:
        async with aiohttp.ClientSession() as session:
            await bench.one(session, key_b, bench.photo())  # warm-up: first imports, caches
            idle = [await bench.one(session, key_b, bench.photo()) for _ in range(args.idle)]
            out["b_idle_p50_s"] = statistics.median(idle)
            progress("B idle")
            first_photos = [bench.photo() for _ in range(args.count)]
            out["a_alone_s"], first = await bench.burst(session, key_a, first_photos)
            progress("A alone")
            interval = _interval(args, out["a_alone_s"])
            photos = [bench.photo() for _ in range(args.count)]
            (a_with_b, second), b = await asyncio.gather(
                bench.burst(session, key_a, photos), bench.b_during(session, key_b, interval)
            )
            out["a_with_b_s"] = a_with_b
            out["b_p50_s"], out["b_p95_s"] = _p50_p95(b)
            progress("A with B")
            out["backfill_b_idle_p50_s"] = out["b_idle_p50_s"]
            out["backfill_a_alone_s"] = await bench.backfill(first, TENANT_A)
            progress("backfill alone")
            interval = _interval(args, out["backfill_a_alone_s"])
            a_back, b = await asyncio.gather(
                bench.backfill(second, TENANT_A), bench.b_during(session, key_b, interval)
            )
            out["backfill_a_with_b_s"] = a_back
            out["backfill_b_p50_s"], out["backfill_b_p95_s"] = _p50_p95(b)
    finally:
        await nc.close()
    return out


def _interval(args: argparse.Namespace, alone: float) -> float:
    """Seconds between B's photos: as asked, or B's photos spread over the load alone."""
    return float(args.b_interval or max((alone - args.b_start) / args.b_photos, 0.5))


def _p50_p95(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[
        min(round(0.95 * (len(ordered) - 1)), len(ordered) - 1)
    ]


def _plot(result: dict[str, Any], path: Path) -> None:
    plt = plots._plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    summary = result["summary"]
    labels = ["B idle p50", "B p50", "B p95"]
    for axis, prefix, title in (
        (left, "", "tenant A's import"),
        (right, "backfill_", "a backfill"),
    ):
        values = [
            summary[f"{prefix}b_idle_p50_s"],
            summary[f"{prefix}b_p50_s"],
            summary[f"{prefix}b_p95_s"],
        ]
        axis.bar(labels, values, color=["#999999", "#4477aa", "#224466"])
        axis.set_title(f"B's upload-to-ready behind {title}")
        axis.set_ylabel("seconds")
    runs = f"n={result['count']}, median of {result['runs']} run(s)"
    fig.suptitle(f"bench.fairness {result['tag']} ({runs})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def compare(before: dict[str, Any], after: dict[str, Any], path: Path) -> None:
    """B's p50/p95 against B idle, and A's time against A alone, before and after."""
    plt = plots._plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, prefix, title in ((axes[0], "", "A's import"), (axes[1], "backfill_", "a backfill")):
        names = ["idle_p50", "p50", "p95"]
        for offset, (label, result) in enumerate((("before", before), ("after", after))):
            values = [result["summary"][f"{prefix}b_{name}_s"] for name in names]
            axis.bar([i + offset * 0.4 for i in range(3)], values, width=0.4, label=label)
        axis.set_xticks([i + 0.2 for i in range(3)], ["B idle p50", "B p50", "B p95"])
        axis.set_yscale("log")
        axis.set_ylabel("seconds, upload to ready (log)")
        axis.set_title(f"tenant B's photo behind {title}")
        axis.legend()
    setup = f"{after.get('workers') or 'default'} worker(s), {after.get('env') or 'defaults'}"
    fig.suptitle(f"bench.fairness: {after['count']} photos of {after.get('size')}, {setup}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    args = _parse()
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        path = Path(__file__).parents[1] / "docs" / "img" / "bench-fairness.png"
        compare(before, after, path)
        print(path)
        return
    env = dict(item.split("=", 1) for item in args.env)
    if args.code:
        env["PYTHONPATH"] = str(args.code)
    runs = []
    for _ in range(args.runs):
        with embedded(workers=args.workers, extra_env=env, cwd=args.code) as stack:
            runs.append(asyncio.run(one_run(stack, args)))
    summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result = {
        "tag": args.tag,
        "count": args.count,
        "runs": len(runs),
        "load": os.getloadavg(),
        "summary": summary,
        "all": runs,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    stem = f"fairness{'-' + args.tag if args.tag else ''}"
    (OUT / f"{stem}.json").write_text(json.dumps(result, indent=2))
    _plot(result, OUT / f"{stem}.png")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for name, value in summary.items():
            print(f"{name:24} {value:8.2f}")
        print(f"load average {result['load']}; {OUT / stem}.json, .png")


if __name__ == "__main__":
    main()
