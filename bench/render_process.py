"""Benchmark the worker's render path: CPU seconds per 12-megapixel JPEG, store to renditions.

What a worker spends on one photo beyond :func:`~pipeline.imaging.render.render_image`
itself: the original streamed from the (filesystem) store into a spool file, the request to
a sandboxed render child, its reply (three renditions) read back. Measured in one run:

* ``in_process`` - ``render_image`` on bytes read from the store, in this process (the floor);
* ``worker``     - :class:`~pipeline.services.spool.Spool` +
  :class:`~pipeline.services.process_renderer.ProcessRenderer` (one slot), CPU of the parent
  and of the child (``/proc/<pid>/stat``) together.

libvips runs single-threaded (``VIPS_CONCURRENCY=1``, which the child inherits). Usage:
``python -m bench.render_process [--images 8] [--repeat 3]``; prints JSON.
"""

from __future__ import annotations

import os

os.environ["VIPS_CONCURRENCY"] = "1"  # before libvips starts its thread pool

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.corpus import build
from pipeline.adapters.storage.filesystem import FilesystemObjectStore
from pipeline.imaging.render import render_image
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings
from pipeline.services.process_renderer import ProcessRenderer
from pipeline.services.spool import Spool

LIMITS = LimitsSettings()
_TICKS = os.sysconf("SC_CLK_TCK")


def _child_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


async def measure(store: FilesystemObjectStore, keys: list[str], repeat: int) -> dict[str, float]:
    spool = Spool(Path(tempfile.mkdtemp(prefix="bench-spool-")), 1024**3)
    floor: list[float] = []
    worker: list[float] = []
    async with ProcessRenderer(DEFAULT_SPEC, LIMITS, store_gps=False, slots=1) as renderer:
        child = renderer._slots[0].child.process.pid

        async def through_worker(key: str) -> None:
            async with spool.fetch(store, key) as path:
                await renderer.render(path)

        await through_worker(keys[0])  # warm-up: imports and code caches in both processes
        render_image(await store.get_bytes(keys[0]), DEFAULT_SPEC, LIMITS)
        for _ in range(repeat):
            for key in keys:
                started = time.process_time()
                render_image(await store.get_bytes(key), DEFAULT_SPEC, LIMITS)
                floor.append(time.process_time() - started)
                started, child_started = time.process_time(), _child_cpu(child)
                await through_worker(key)
                # /proc counts in clock ticks (10 ms): the mean of many samples smooths it.
                worker.append(time.process_time() - started + _child_cpu(child) - child_started)
    return {
        "in_process": statistics.mean(floor),
        "worker": statistics.mean(worker),
    }


async def run(images: int, repeat: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bench-store-"))
    store = FilesystemObjectStore(root)
    keys = []
    for path in build(images):
        key = f"originals/bench/{path.stem}"
        await store.put_bytes(key, path.read_bytes(), content_type="image/jpeg")
        keys.append(key)
    means = await measure(store, keys, repeat)
    return {
        "images": images,
        "repeat": repeat,
        "mean_cpu_seconds": means,
        "worker_vs_in_process": means["worker"] / means["in_process"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Worker render path CPU benchmark")
    parser.add_argument("--images", type=int, default=8, help="corpus size (12 MP JPEGs)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the corpus")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.images, args.repeat)), indent=2))


if __name__ == "__main__":
    main()
