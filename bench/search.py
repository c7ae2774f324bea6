"""Search benchmark: the first page of a search, a filter and the timeline against the size
of one tenant's library.

``python -m bench.search --sizes 10000,100000,1000000`` (``make bench-search``) starts
``gallery up`` (embedded defaults, throw-away data folder), then for each size (ascending)
grows the ``local`` tenant through the catalog adapter's bulk path
(:meth:`MongoCatalog.insert_images`, the documents as a render leaves them: file name, camera,
lens, capture time over ten years, XMP keywords and titles) and measures the p95 of ``REPS``
first pages of 50 (``GET /v1/images``) for:

- ``upload``: the plain listing, the baseline every other figure is divided by;
- ``timeline``: ``order=taken``;
- ``q_common`` / ``q_rare``: a keyword on ~1 in 15 photos / ~1 in 2,000 (a prefix, as typed);
- ``camera``: ``camera=canon`` (a third of the library);
- ``q_camera_dates``: a keyword, a camera and a year on the timeline;
- ``filename``: a file name's number prefix.

Prints the figures and their ratio to the baseline, writes ``bench/out/search.json`` and
draws ``docs/img/search.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.plots import _plt
from bench.scale import p
from bench.stack import Stack, embedded
from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.runtime.settings import MongoSettings

OUT = Path(__file__).parent / "out"
PLOT = Path(__file__).parents[1] / "docs" / "img" / "search.png"
TENANT = "local"
SEED_BATCH = 5_000
REPS = 20
CAMERAS = [("Canon", "EOS R6"), ("NIKON CORPORATION", "NIKON Z 6"), ("Apple", "iPhone 13")]
LENSES = ["RF24-105mm F4 L IS USM", "NIKKOR Z 24-70mm f/4 S", "iPhone 13 back camera"]
#: Keywords: 15 common (each on ~1 in 15 photos), 2,000 rare ("tag0000"...).
COMMON = ["beach", "family", "birthday", "mountains", "garden", "snow", "city", "sunset",
          "concert", "forest", "wedding", "school", "holiday", "market", "river"]  # fmt: skip
RARE = 2_000
START = datetime(2015, 1, 1)
SPAN_SECONDS = 10 * 365 * 86_400
QUERIES: dict[str, dict[str, str]] = {
    "upload": {},
    "timeline": {"order": "taken"},
    "q_common": {"q": "sunse"},
    "q_rare": {"q": "tag0042"},
    "camera": {"camera": "canon"},
    "q_camera_dates": {
        "q": "beach",
        "camera": "nikon",
        "order": "taken",
        "taken_after": "2020-01-01",
        "taken_before": "2021-01-01",
    },
    "filename": {"q": "img_00012"},
}


def document(n: int, rng: random.Random) -> ImageRecord:
    """A rendered photo's record: 1 in 10 without a capture date."""
    image_id = new_image_id()
    make, model = CAMERAS[n % 3]
    metadata: dict[str, object] = {"camera_make": make, "camera_model": model,
                                   "lens": LENSES[n % 3], "orientation": 1}  # fmt: skip
    if n % 10:
        taken = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        metadata["capture_time"] = taken.isoformat()
    metadata["keywords"] = [COMMON[rng.randrange(len(COMMON))], f"tag{rng.randrange(RARE):04d}"]
    if n % 4 == 0:
        metadata["title"] = f"{COMMON[rng.randrange(len(COMMON))].title()} with friends"
    return ImageRecord(
        id=image_id,
        tenant=TENANT,
        status="ready",
        sha256=f"{n:064x}",
        content_type="image/jpeg",
        bytes=3_000_000 + n % 1000,
        width=4000,
        height=3000,
        filename=f"IMG_{n:07d}.jpg",
        original_key=f"originals/{TENANT}/{image_id}",
        metadata=metadata,
        thumbhash="1QcSHQRnh493V4dIh4eXh1h4kJUI",
        ready_at=utcnow(),
    )


async def seed(catalog: MongoCatalog, have: int, upto: int) -> float:
    """Grow the tenant from ``have`` to ``upto`` documents; seconds it took."""
    started = time.perf_counter()
    rng = random.Random(have)
    for start in range(have, upto, SEED_BATCH):
        stop = min(upto, start + SEED_BATCH)
        await catalog.insert_images(TENANT, [document(n, rng) for n in range(start, stop)])
        print(f"\r  seeding: {stop}/{upto}", end="", flush=True)
    print()
    return time.perf_counter() - started


async def first_page(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    async with session.get(f"{url}/v1/images", params={"limit": "50", **params}) as response:
        body = await response.json()
        if response.status != 200 or not body["items"]:
            raise RuntimeError(f"GET /v1/images {params}: {response.status}, nothing found")
    return (time.perf_counter() - started) * 1000


async def measure(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """p95 per query of QUERIES, the queries taken in turn so a busy machine slows all."""
    times: dict[str, list[float]] = {name: [] for name in QUERIES}
    for _ in range(REPS):
        for name, params in QUERIES.items():
            times[name].append(await first_page(session, url, params))
    return {name: p(values, 0.95) for name, values in times.items()}


async def run(stack: Stack, sizes: list[int]) -> dict[str, Any]:
    assert stack.mongo_uri is not None
    settings = MongoSettings(uri=stack.mongo_uri, timeout_seconds=600)
    result: dict[str, Any] = {"sizes": {}, "seed_seconds": {}}
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with (
        MongoCatalog.connect(settings) as catalog,
        aiohttp.ClientSession(headers=headers) as http,
    ):
        have = 0
        for size in sorted(sizes):
            result["seed_seconds"][size] = round(await seed(catalog, have, size), 1)
            have = size
            figures = await measure(http, stack.url)
            result["sizes"][size] = {k: round(v, 2) for k, v in figures.items()}
            print(f"{size:>9}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in figures.items()))
    return result


def report(result: dict[str, Any]) -> None:
    sizes = sorted(result["sizes"])
    print(f"\n{'first page p95 (ms)':<20}" + "".join(f"{s:>12}" for s in sizes) + "  x upload")
    for name in QUERIES:
        row = [result["sizes"][s][name] for s in sizes]
        ratio = row[-1] / result["sizes"][sizes[-1]]["upload"]
        print(f"{name:<20}" + "".join(f"{v:>12.1f}" for v in row) + f"{ratio:>9.2f}")


def plot(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    sizes = sorted(result["sizes"])
    fig, axis = plt.subplots(figsize=(7, 4))
    for name in QUERIES:
        axis.plot(sizes, [result["sizes"][s][name] for s in sizes], marker="o", label=name)
    axis.set(xscale="log", yscale="log", xlabel="photos in the tenant", ylabel="first page p95, ms")
    axis.legend(fontsize=7)
    axis.set_title("search, filters and timeline: first page of 50")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated sizes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with embedded(workers=1) as stack:
        result = asyncio.run(run(stack, sizes))
    report(result)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "search.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, PLOT)
    print(f"\nwrote {OUT / 'search.json'} and {PLOT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
