"""The floor: a bare, single-threaded pyvips one-decode cascade of the default spec.

Per source photo: ``thumbnail_buffer`` to the 2048 ``large`` size, kept in memory, ``preview``
(1280) and the 256 ``thumb`` (attention crop) resized from it, the three encoded with the
spec's formats and qualities (:func:`bench.render.cascade`). No probe, no EXIF, no storage,
no messages: what any pipeline has to pay at least. Run in its own process so
``VIPS_CONCURRENCY=1`` holds and its CPU time is its own::

    python -m bench.floor --repeat 2 --out floor.json PHOTO...

Writes ``{path: {"cpu": median CPU seconds, "wall": median wall seconds}}``.
"""

from __future__ import annotations

import os

os.environ["VIPS_CONCURRENCY"] = "1"  # before libvips starts its thread pool

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.render import cascade


def measure(paths: list[Path], repeat: int) -> dict[str, dict[str, float]]:
    corpus = {str(p): p.read_bytes() for p in paths}
    cascade(next(iter(corpus.values())))  # warm-up: load libraries, fill code caches
    out = {}
    for name, data in corpus.items():
        cpu, wall = [], []
        for _ in range(repeat):
            started_cpu, started = time.process_time(), time.perf_counter()
            cascade(data)
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
        out[name] = {"cpu": statistics.median(cpu), "wall": statistics.median(wall)}
    return out


def run(paths: list[Path], repeat: int, out: Path) -> dict[str, dict[str, float]]:
    """Measure in a child process (so the caller's libvips settings do not matter)."""
    args = [sys.executable, "-m", "bench.floor", "--repeat", str(repeat), "--out", str(out)]
    subprocess.run([*args, *map(str, paths)], check=True)
    result: dict[str, dict[str, float]] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("photos", nargs="+", type=Path)
    args = parser.parse_args()
    args.out.write_text(json.dumps(measure(args.photos, args.repeat), indent=2))


if __name__ == "__main__":
    main()
