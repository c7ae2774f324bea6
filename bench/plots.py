"""Plots of a throughput run (matplotlib, Agg): throughput and CPU split, latency, scaling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROLE_COLOURS = {
    "workers": "tab:blue",
    "gateway": "tab:orange",
    "catalog": "tab:green",
    "nats": "tab:red",
    "supervisor": "tab:grey",
}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def throughput_and_cpu(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    main = result["main"]["summary"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    runs = result["main"]["runs"]
    left.bar(
        [f"run {i}" for i in range(1, len(runs) + 1)] + ["ideal"],
        [r["photos_per_second"] for r in runs] + [main["ideal_photos_per_second"]],
        color=["tab:blue"] * len(runs) + ["lightgrey"],
    )
    left.axhline(0.8 * main["ideal_photos_per_second"], ls="--", color="grey", label="0.80 x ideal")
    left.set_ylabel("photos / s")
    left.set_title(f"Throughput, ratio to ideal {main['ratio_to_ideal']:.2f} (median)")
    left.legend(loc="lower right")
    bottom = 0.0
    for role, value in main["cpu_per_photo"].items():
        right.bar(["stack"], [value * 1000], bottom=bottom, label=role, color=ROLE_COLOURS[role])
        bottom += value * 1000
    right.bar(["floor"], [main["floor_cpu_per_photo"] * 1000], color="lightgrey", label="floor")
    right.axhline(
        1.15 * main["floor_cpu_per_photo"] * 1000, ls="--", color="grey", label="1.15 x floor"
    )
    right.set_ylabel("CPU ms per photo")
    right.set_title(f"CPU per photo: {main['stack_vs_floor']:.2f} x floor")
    right.legend(fontsize=8)
    fig.suptitle(f"{result['corpus']} corpus, {result['clients']} clients, {result['cpus']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    runs = result["main"]["runs"]
    loaded = [x * 1000 for r in runs for x in r["latencies"]]
    idle = [i["latency"] * 1000 for r in runs for i in r["idle"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(loaded, bins=30, alpha=0.7, label=f"under load ({len(loaded)} photos)")
    ax.hist(idle, bins=10, alpha=0.9, label=f"idle stack, one at a time ({len(idle)} photos)")
    ax.set_xlabel("upload start to ready (ms)")
    ax.set_ylabel("photos")
    ax.set_title(f"Upload-to-ready latency, {result['corpus']} corpus")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scaling(result: dict[str, Any], path: Path) -> None:
    plt = _plt()
    rows = result["scaling"]
    counts = [r["workers"] for r in rows]
    rates = [r["summary"]["photos_per_second"] for r in rows]
    ideal = rows[0]["summary"]["ideal_photos_per_second"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(counts, rates, "o-", label="measured")
    ax.axhline(ideal, ls="--", color="grey", label=f"ideal on {result['cpus']} cores")
    ax.set_xticks(counts)
    ax.set_xlabel("worker processes")
    ax.set_ylabel("photos / s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Scaling with worker processes, {result['corpus']} corpus")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(result: dict[str, Any], out: Path, stem: str) -> list[Path]:
    written = [out / f"{stem}.png", out / f"{stem}-latency.png"]
    throughput_and_cpu(result, written[0])
    latency(result, written[1])
    if result.get("scaling"):
        written.append(out / f"{stem}-scaling.png")
        scaling(result, written[-1])
    return written
