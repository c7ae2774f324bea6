"""End-to-end throughput against the libvips floor: how close does the pipeline get?

One invocation measures, on the same photos and in the same run:

* the **floor** (:mod:`bench.floor`): CPU and wall seconds per photo of a bare single-threaded
  one-decode pyvips cascade of the default spec; the **ideal** is ``cores / floor CPU per
  photo`` photos per second;
* ``--runs`` times: a fresh ``gallery up`` (``make up``'s defaults, :mod:`bench.stack`), a few
  photos one at a time into the idle stack (**idle latency**: upload start to ``ready``),
  then N distinct photos from C parallel clients (:mod:`bench.load`): the wall time from the
  first upload to the last ``ready``, photos/s, and the CPU seconds of every process of the
  stack by role (the load generator's own CPU apart), from ``/proc`` (:mod:`bench.procs`).

Prints the medians (ratio to the ideal, CPU per photo by role against the floor, idle latency
against the floor's wall time) with the machine's load average, and writes
``bench/out/throughput-<corpus>.json`` and plots (``--docs`` copies them to ``docs/img``).
``--scaling 1 2 3 4`` adds one run per worker-process count and a scaling plot.
``--url URL --key KEY --nats-url URL`` targets a running stack instead (no CPU by process).

    python -m bench.throughput [--corpus generated|wallpapers] [--photos DIR] [-n 60] [-c 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import corpora, floor, plots, procs
from bench.load import Sample, upload_all
from bench.stack import Stack, embedded

OUT = Path(__file__).parent / "out"
IDLE_PHOTOS = 5


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=["generated", "wallpapers"], default="generated")
    parser.add_argument("--photos", type=Path, help="a folder of photos instead of a corpus")
    parser.add_argument("-n", "--count", type=int, default=60, help="distinct photos per run")
    parser.add_argument("-c", "--clients", type=int, default=4, help="parallel upload clients")
    parser.add_argument("--runs", type=int, default=3, help="runs; the report gives medians")
    parser.add_argument("--workers", type=int, help="worker processes (default: gallery up's)")
    parser.add_argument("--scaling", type=int, nargs="*", help="worker counts for a scaling plot")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the stack")
    parser.add_argument("--url", help="target a running gateway instead of starting one")
    parser.add_argument("--key", help="API key for --url")
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222", help="NATS for --url")
    parser.add_argument("--docs", action="store_true", help="copy the plots to docs/img")
    parser.add_argument("--tag", default="", help="suffix of the output files")
    return parser.parse_args()


async def _idle_latency(stack: Stack, uploads: list[tuple[str, bytes]]) -> list[Sample]:
    async def settle() -> None:
        await asyncio.sleep(0.5)  # let the worker go back to waiting on its pull

    assert stack.nats_url is not None
    return await upload_all(
        stack.url, stack.key, stack.nats_url, uploads, 1, sequential_wait=True, pause=settle
    )


def one_run(
    stack: Stack, uploads: list[tuple[str, bytes]], idle: list[tuple[str, bytes]], clients: int
) -> dict[str, Any]:
    """Idle latency, then the load, on one stack; CPU by role over the load's window."""
    idle_samples = asyncio.run(_idle_latency(stack, idle))
    meter = procs.CpuMeter(stack.root_pid) if stack.root_pid else None
    marks: dict[str, Any] = {}

    def start() -> None:
        if meter:
            meter.start()
        marks["self"] = procs.self_cpu()
        marks["machine"] = procs.machine_ticks()
        marks["load"] = procs.load_average()

    assert stack.nats_url is not None
    samples = asyncio.run(
        upload_all(stack.url, stack.key, stack.nats_url, uploads, clients, on_start=start)
    )
    cpu = meter.read() if meter else {}
    busy, total = procs.machine_ticks()
    wall = max(s.done for s in samples) - min(s.started for s in samples)
    return {
        "wall_seconds": wall,
        "photos": len(samples),
        "failed": sum(s.status != "ready" for s in samples),
        "photos_per_second": len(samples) / wall,
        "cpu_seconds": cpu,
        "loadgen_cpu_seconds": procs.self_cpu() - marks["self"],
        "machine_busy_seconds": busy - marks["machine"][0],
        "machine_total_seconds": total - marks["machine"][1],
        "load_average_start": marks["load"],
        "load_average_end": procs.load_average(),
        "latencies": [s.latency for s in samples],
        "idle": [{"name": s.name, "latency": s.latency} for s in idle_samples],
    }


def derive(run: dict[str, Any], floor_cpu: float, floor_wall: dict[str, float]) -> None:
    """Add the ratios of one run: to the ideal, to the floor, and the idle margin."""
    cores = os.cpu_count() or 1
    n = run["photos"]
    ideal = cores / floor_cpu
    run["ideal_photos_per_second"] = ideal
    run["ratio_to_ideal"] = run["photos_per_second"] / ideal
    per_role = {k: v / n for k, v in run["cpu_seconds"].items()}
    run["cpu_per_photo"] = per_role
    run["stack_cpu_per_photo"] = sum(per_role.values())
    run["stack_vs_floor"] = run["stack_cpu_per_photo"] / floor_cpu if per_role else None
    run["loadgen_cpu_per_photo"] = run["loadgen_cpu_seconds"] / n
    ours = sum(run["cpu_seconds"].values()) + run["loadgen_cpu_seconds"]
    foreign = max(run["machine_busy_seconds"] - ours, 0.0)
    run["foreign_cpu_seconds"] = foreign
    run["cores_busy_fraction"] = run["machine_busy_seconds"] / run["machine_total_seconds"]
    run["stack_cores_fraction"] = sum(run["cpu_seconds"].values()) / (run["wall_seconds"] * cores)
    available = cores - foreign / run["wall_seconds"]
    run["ratio_to_available"] = run["photos_per_second"] / (max(available, 0.1) / floor_cpu)
    margins = [i["latency"] - floor_wall[i["name"].split("#")[0]] for i in run["idle"]]
    run["idle_latency_median"] = statistics.median(i["latency"] for i in run["idle"])
    run["idle_margin_over_floor_median"] = statistics.median(margins)


def summarise(runs: list[dict[str, Any]], floor_cpu: float) -> dict[str, Any]:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    roles = runs[0]["cpu_per_photo"].keys()
    return {
        "floor_cpu_per_photo": floor_cpu,
        "photos_per_second": med("photos_per_second"),
        "ideal_photos_per_second": med("ideal_photos_per_second"),
        "ratio_to_ideal": med("ratio_to_ideal"),
        "ratio_to_available": med("ratio_to_available"),
        "stack_cpu_per_photo": med("stack_cpu_per_photo"),
        "stack_vs_floor": med("stack_cpu_per_photo") / floor_cpu,
        "cpu_per_photo": {k: statistics.median(r["cpu_per_photo"][k] for r in runs) for k in roles},
        "loadgen_cpu_per_photo": med("loadgen_cpu_per_photo"),
        "cores_busy_fraction": med("cores_busy_fraction"),
        "stack_cores_fraction": med("stack_cores_fraction"),
        "idle_latency_median": med("idle_latency_median"),
        "idle_margin_over_floor_median": med("idle_margin_over_floor_median"),
        "load_average": [r["load_average_start"] for r in runs],
    }


def report(summary: dict[str, Any], runs: list[dict[str, Any]], label: str) -> None:
    ms = 1000
    print(f"\n== {label}: medians of {len(runs)} run(s), {runs[0]['photos']} photos each ==")
    for i, r in enumerate(runs, 1):
        print(
            f"run {i}: {r['photos_per_second']:.2f} photos/s in {r['wall_seconds']:.1f} s, "
            f"ratio {r['ratio_to_ideal']:.2f} (to available {r['ratio_to_available']:.2f}), "
            f"stack {r['stack_cpu_per_photo'] * ms:.0f} ms/photo, "
            f"load avg {r['load_average_start']:.2f}, foreign CPU {r['foreign_cpu_seconds']:.1f} s"
        )
    s = summary
    print(
        f"floor CPU per photo     {s['floor_cpu_per_photo'] * ms:7.0f} ms  "
        f"-> ideal {s['ideal_photos_per_second']:.2f} photos/s on {os.cpu_count()} cores"
    )
    print(
        f"throughput              {s['photos_per_second']:7.2f} photos/s  "
        f"ratio to ideal {s['ratio_to_ideal']:.2f}  (to the CPU left by other programs "
        f"{s['ratio_to_available']:.2f})"
    )
    print(
        f"stack CPU per photo     {s['stack_cpu_per_photo'] * ms:7.0f} ms  "
        f"= {s['stack_vs_floor']:.2f} x floor"
    )
    for role_name, value in s["cpu_per_photo"].items():
        print(f"  {role_name:12}          {value * ms:7.1f} ms")
    print(f"  load generator (apart) {s['loadgen_cpu_per_photo'] * ms:7.1f} ms")
    print(
        f"cores busy              {s['cores_busy_fraction'] * 100:7.0f} %  (whole machine; "
        f"the stack's share {s['stack_cores_fraction'] * 100:.0f} %)"
    )
    print(
        f"idle upload-to-ready    {s['idle_latency_median'] * ms:7.0f} ms  "
        f"= floor wall + {s['idle_margin_over_floor_median'] * ms:.0f} ms"
    )
    print(f"load average at start of each run: {', '.join(f'{x:.2f}' for x in s['load_average'])}")


def _stack(
    args: argparse.Namespace, workers: int | None, env: dict[str, str]
) -> contextlib.AbstractContextManager[Stack]:
    if args.url:
        return contextlib.nullcontext(Stack(args.url, args.key or "", args.nats_url))
    return embedded(workers, env)


def measure(
    args: argparse.Namespace,
    workers: int | None,
    runs: int,
    label: str,
    *,
    sources: list[Path],
    floor_data: dict[str, dict[str, float]],
) -> dict[str, Any]:
    uploads = corpora.photos(sources, args.count)
    floor_cpu = statistics.mean(floor_data[n.split("#")[0]]["cpu"] for n, _ in uploads)
    floor_wall = {k: v["wall"] for k, v in floor_data.items()}
    results = []
    env = dict(e.split("=", 1) for e in args.env)
    for index in range(runs):
        idle = corpora.photos(sources, IDLE_PHOTOS, offset=1000 + index)
        with _stack(args, workers, env) as stack:
            run = one_run(stack, uploads, idle, args.clients)
        derive(run, floor_cpu, floor_wall)
        results.append(run)
    summary = summarise(results, floor_cpu)
    report(summary, results, label)
    return {"summary": summary, "runs": results, "workers": workers}


def main() -> int:
    args = _parse()
    sources = corpora.pick(args.corpus, min(args.count, 16), args.photos)
    corpus = "photos" if args.photos else args.corpus
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        floor_data = floor.run(sources, 2, Path(tmp) / "floor.json")
    result: dict[str, Any] = {
        "corpus": corpus,
        "sources": len(sources),
        "clients": args.clients,
        "cpus": os.cpu_count(),
        "env": args.env,
        "floor": floor_data,
    }
    result["main"] = measure(
        args, args.workers, args.runs, corpus, sources=sources, floor_data=floor_data
    )
    if args.scaling:
        result["scaling"] = [
            measure(args, k, 1, f"{corpus}, {k} worker(s)", sources=sources, floor_data=floor_data)
            for k in args.scaling
        ]
    stem = f"throughput-{corpus}{args.tag}"
    (OUT / f"{stem}.json").write_text(json.dumps(result, indent=2))
    written = plots.draw(result, OUT, stem)
    if args.docs:
        docs = Path(__file__).parent.parent / "docs" / "img"
        docs.mkdir(parents=True, exist_ok=True)
        for path in written:
            (docs / path.name).write_bytes(path.read_bytes())
    print(f"wrote {OUT / f'{stem}.json'} and {', '.join(p.name for p in written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
