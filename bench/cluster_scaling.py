"""Plot the worker replica count over time that tests/cluster/test_keda.py recorded.

The cluster test samples the worker Deployment every 2 s while KEDA scales it on one tenant's
render backlog and writes ``bench/out/keda-replicas.json`` ([{"t": s, "replicas": n,
"ready": n, "lag": n, "backlog": n}, ...]; ``lag`` (the render consumer's pending jobs, stopped
at the fairness cap) and ``backlog`` (the catalog's queued photos) are what KEDA served the
HPA, -1 when unreadable); this draws it into ``docs/img/cluster-keda-scaling.png`` for
docs/operations.md.
Usage: ``python -m bench.cluster_scaling [path]``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).parent / "out"
DOCS_PLOT = Path(__file__).parent.parent / "docs" / "img" / "cluster-keda-scaling.png"


def plot(samples: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [s["t"] for s in samples]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.step(times, [s["replicas"] for s in samples], where="post", label="desired replicas")
    ax.step(times, [s["ready"] for s in samples], where="post", label="ready", linestyle="--")
    ax.set_xlabel("seconds since the test started")
    ax.set_ylabel("worker pods")
    ax.set_yticks(range(int(max(s["replicas"] for s in samples)) + 2))
    ax.set_title("KEDA scaling gallery-worker on one tenant's backlog (test cluster)")
    series = [("lag", "consumer lag (KEDA)", "tab:red"), ("backlog", "backlog (KEDA)", "tab:green")]
    readings = {
        key: [(s["t"], s[key]) for s in samples if s.get(key, -1) >= 0] for key, _, _ in series
    }
    if any(readings.values()):
        jobs_axis = ax.twinx()
        for key, label, colour in series:
            if readings[key]:
                points = zip(*readings[key], strict=True)
                jobs_axis.plot(*points, color=colour, marker=".", label=label)
        jobs_axis.set_ylabel("renders waiting")
        jobs_axis.legend(loc="center right")
    ax.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT / "keda-replicas.json"
    samples = json.loads(source.read_text())
    plot(samples, DOCS_PLOT)
    print(f"{len(samples)} samples, peak {max(s['replicas'] for s in samples):.0f} -> {DOCS_PLOT}")


if __name__ == "__main__":
    main()
