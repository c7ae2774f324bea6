"""Workers scaling under load: KEDA reads the render consumer's lag from NATS and scales the
worker Deployment from one replica up and back down (the overlay's ScaledObject, unchanged
except the short test windows)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.client import Gallery
from tests.cluster.conftest import Deployed
from tests.cluster.kube import Kube, wait_for
from tests.cluster.tools import ROOT

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1500)]

TIMELINE = ROOT / "bench" / "out" / "keda-replicas.json"


class ReplicaRecorder:
    """Samples the worker Deployment's replica counts and the consumer lag every 2 s."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.samples: list[dict[str, float]] = []
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(2.0):
            self.sample()

    def sample(self) -> None:
        try:
            status = self.kube.get("deployment", "gallery-worker")["status"]
        except Exception:
            return
        self.samples.append(
            {
                "t": round(time.monotonic() - self.started, 1),
                "replicas": float(status.get("replicas", 0)),
                "ready": float(status.get("readyReplicas", 0)),
            }
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.samples, indent=1))

    def table(self) -> str:
        def counts(sample: dict[str, float]) -> tuple[float, float]:
            return sample["replicas"], sample["ready"]

        changes = [
            s
            for i, s in enumerate(self.samples)
            if i == 0 or counts(s) != counts(self.samples[i - 1])
        ]
        return "\n".join(
            f"  t={s['t']:6.1f}s replicas={s['replicas']:.0f} ready={s['ready']:.0f}"
            for s in changes
        )


@pytest.fixture
def recorder(keda: Kube, deployed: Deployed) -> Iterator[ReplicaRecorder]:
    rec = ReplicaRecorder(deployed.kube)
    rec.thread.start()
    yield rec
    rec.stop.set()
    rec.thread.join(timeout=10)
    rec.sample()  # the scale-in the test just saw
    rec.save(TIMELINE)
    print(f"\nworker replicas over time (also in {TIMELINE}):\n{rec.table()}")


def test_keda_scales_workers_up_on_consumer_lag_and_back_down(
    deployed: Deployed, recorder: ReplicaRecorder
) -> None:
    kube = deployed.kube
    wait_for(
        "KEDA's HPA for the worker",
        lambda: kube.get("hpa", "keda-hpa-gallery-worker"),
        timeout=180,
        every=3,
    )
    maximum = int(kube.get("scaledobject", "gallery-worker")["spec"]["maxReplicaCount"])
    gallery = Gallery(deployed.gateway_url, deployed.api_key)
    ids = gallery.upload_photos(30, seed=500)

    wait_for(
        f"KEDA to scale the workers to {maximum}",
        lambda: kube.get("deployment", "gallery-worker")["spec"]["replicas"] >= maximum,
        timeout=300,
        every=2,
    )
    gallery.wait_all_ready(ids, timeout=900)
    wait_for(
        "KEDA to scale the workers back to 1",
        lambda: kube.get("deployment", "gallery-worker")["spec"]["replicas"] == 1,
        timeout=420,
        every=3,
    )
    peak = max(s["replicas"] for s in recorder.samples)
    assert peak == maximum
