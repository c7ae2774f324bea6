"""Benchmark the render step: CPU seconds per 12-megapixel JPEG.

Three ways to make the default thumb / preview / large renditions, measured in one run on the
same corpus so the ratios are fair:

* ``worker``  - :func:`pipeline.imaging.render.render_image` with ``DEFAULT_SPEC`` (what the
  worker runs: probe, one shrink-on-load decode, orient, colour, ThumbHash, three encodes);
* ``naive``   - bare pyvips, one ``thumbnail_buffer`` per rendition: three decodes;
* ``cascade`` - bare pyvips, one ``thumbnail_buffer`` to the largest size, kept in memory,
  the smaller renditions resized from it.

libvips runs single-threaded (``VIPS_CONCURRENCY=1``) so CPU time measures work, not how well
a method spreads over cores; CPU time is ``time.process_time()``, which includes libvips'
threads. Usage: ``python -m bench.render [--images 8] [--repeat 3]``.
"""

from __future__ import annotations

import os

os.environ["VIPS_CONCURRENCY"] = "1"  # before libvips starts its thread pool

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyvips

from bench.corpus import build
from pipeline.imaging import vips
from pipeline.imaging.render import render_image
from pipeline.imaging.spec import DEFAULT_SPEC
from pipeline.runtime.settings import LimitsSettings

OUT = Path(__file__).parent / "out"
DOCS_PLOT = Path(__file__).parent.parent / "docs" / "img" / "bench-render.png"
LIMITS = LimitsSettings()
THUMB, PREVIEW, LARGE = DEFAULT_SPEC


def worker(data: bytes) -> None:
    render_image(data, DEFAULT_SPEC, LIMITS)


def _save_defaults(thumb: pyvips.Image, preview: pyvips.Image, large: pyvips.Image) -> None:
    thumb.webpsave_buffer(Q=THUMB.quality, keep="none")
    preview.webpsave_buffer(Q=PREVIEW.quality, keep="none")
    large.jpegsave_buffer(Q=LARGE.quality, keep="none", optimize_coding=True)


def naive(data: bytes) -> None:
    thumb = pyvips.Image.thumbnail_buffer(data, 256, height=256, crop="attention")
    preview = pyvips.Image.thumbnail_buffer(data, 1280, height=1280, size="down")
    large = pyvips.Image.thumbnail_buffer(data, 2048, height=2048, size="down")
    _save_defaults(thumb, preview, large)


def cascade(data: bytes) -> None:
    large = pyvips.Image.thumbnail_buffer(data, 2048, height=2048, size="down").copy_memory()
    preview = large.thumbnail_image(1280, height=1280, size="down")
    thumb = large.thumbnail_image(256, height=256, crop="attention")
    _save_defaults(thumb, preview, large)


METHODS: dict[str, Callable[[bytes], None]] = {
    "worker": worker,
    "naive": naive,
    "cascade": cascade,
}


def measure(paths: list[Path], repeat: int) -> dict[str, list[float]]:
    """CPU seconds of every method on every image, ``repeat`` times, interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in METHODS}
    corpus = [p.read_bytes() for p in paths]
    for data in corpus[:1]:  # warm-up: load libraries, fill code caches
        for method in METHODS.values():
            method(data)
    for _ in range(repeat):
        for data in corpus:
            for name, method in METHODS.items():
                started = time.process_time()
                method(data)
                samples[name].append(time.process_time() - started)
    return samples


def summarise(samples: dict[str, list[float]], images: int, repeat: int) -> dict[str, object]:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    baseline = medians["naive"]
    return {
        "images": images,
        "repeat": repeat,
        "image_size": "4000x3000 JPEG q90",
        "vips_concurrency": pyvips.concurrency_get(),
        "libvips": vips.version(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "median_cpu_seconds": medians,
        "ratio_vs_naive": {name: m / baseline for name, m in medians.items()},
        "samples_cpu_seconds": samples,
    }


def plot(summary: dict[str, object], samples: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(samples)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.boxplot([[s * 1000 for s in samples[n]] for n in names], tick_labels=names)
    medians = summary["median_cpu_seconds"]
    assert isinstance(medians, dict)
    for i, name in enumerate(names, start=1):
        ax.annotate(
            f"{medians[name] * 1000:.0f} ms",
            (i, medians[name] * 1000),
            xytext=(42, 0),
            textcoords="offset points",
            va="center",
        )
    ax.set_ylabel("CPU ms per 12 MP JPEG (3 renditions)")
    ax.set_title(f"Render CPU time, libvips {summary['libvips']}, 1 vips thread")
    ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description="Render-step CPU benchmark")
    parser.add_argument("--images", type=int, default=8, help="corpus size (12 MP JPEGs)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the corpus")
    parser.add_argument("--docs", action="store_true", help="also copy the plot to docs/img")
    args = parser.parse_args()
    pyvips.concurrency_set(1)
    paths = build(args.images)
    samples = measure(paths, args.repeat)
    summary = summarise(samples, args.images, args.repeat)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "render.json").write_text(json.dumps(summary, indent=2))
    plot(summary, samples, OUT / "render.png")
    if args.docs:
        DOCS_PLOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_PLOT.write_bytes((OUT / "render.png").read_bytes())
    medians, ratios = summary["median_cpu_seconds"], summary["ratio_vs_naive"]
    assert isinstance(medians, dict)
    assert isinstance(ratios, dict)
    print(f"{args.images} images x {args.repeat} repeats, libvips {summary['libvips']}, 1 thread")
    print(f"{'method':10} {'median CPU ms':>14} {'vs naive':>9}")
    for name in METHODS:
        print(f"{name:10} {medians[name] * 1000:14.1f} {ratios[name]:9.2f}")
    print(MEANING)
    print(f"wrote {OUT / 'render.json'} and {OUT / 'render.png'}")


MEANING = """\
what the ratios mean (medians of CPU seconds in this run, so other load cancels out):
  vs naive = method / naive; naive (one thumbnail_buffer per rendition, three decodes) = 1.00
  worker   < 1.00: the share of naive's CPU the worker's render still spends (0.70: 30 % saved)
  cascade  = one decode with no worker extras: the floor for "decode once"; worker / cascade
             is what the worker's own steps (probe, EXIF, orient, colour, ThumbHash) cost"""


if __name__ == "__main__":
    main()
