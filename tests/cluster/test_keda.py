"""Workers scaling under load: one tenant's import scales the worker Deployment from one
replica up and back down (the overlay's ScaledObject, unchanged except the short test windows
and targets). The render consumer's lag stops at the fairness cap, so what scales is the
whole backlog: gallery_render_backlog, the gateway's count of queued images, read by KEDA's
prometheus trigger from the test's Prometheus."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster.client import Gallery
from tests.cluster.conftest import Deployed
from tests.cluster.kube import Kube, wait_for
from tests.cluster.tools import ROOT

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1500)]

TIMELINE = ROOT / "bench" / "out" / "keda-replicas.json"
# The external metrics KEDA names after the triggers (s<index>-<scaler>[-<stream>]): the
# render consumer's lag and the render backlog (triggers 0 and 2 of the ScaledObject).
LAG_METRIC = "s0-nats-jetstream-GALLERY_RENDER"
BACKLOG_METRIC = "s2-prometheus"


def _quantity(value: str) -> float:
    """A Kubernetes quantity as the metrics API writes it ("29", "1500m")."""
    return float(value[:-1]) / 1000 if value.endswith("m") else float(value)


def _diagnose(kube: Kube) -> str:
    """What KEDA and the HPA said, for a failure message."""
    keda = kube.in_namespace("keda")
    sources: list[tuple[str, Callable[[], str]]] = [
        ("ScaledObject", lambda: json.dumps(kube.get("scaledobject", "gallery-worker")["status"])),
        ("HPA", lambda: kube.run("describe", "hpa", "keda-hpa-gallery-worker")),
        ("keda-operator", lambda: keda.logs("app=keda-operator", tail=30)),
        ("keda-metrics-apiserver", lambda: keda.logs("app=keda-metrics-apiserver", tail=30)),
    ]
    parts = []
    for label, call in sources:
        try:
            parts.append(f"--- {label}:\n{call()}")
        except Exception as exc:
            parts.append(f"--- {label}: unavailable ({exc})")
    return "\n".join(parts)


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
                "lag": self.external(LAG_METRIC),
                "backlog": self.external(BACKLOG_METRIC),
            }
        )

    def external(self, metric: str) -> float:
        """A value KEDA serves to the HPA (external metrics API), -1 if it cannot be read."""
        path = (
            f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{self.kube.namespace}/"
            f"{metric}?labelSelector=scaledobject.keda.sh%2Fname%3Dgallery-worker"
        )
        try:
            items = json.loads(self.kube.run("get", "--raw", path, namespaced=False))["items"]
            return float(_quantity(items[0]["value"])) if items else -1.0
        except Exception:
            return -1.0

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.samples, indent=1))

    def table(self) -> str:
        def counts(sample: dict[str, float]) -> tuple[float, ...]:
            return tuple(sample.get(k, -1.0) for k in ("replicas", "ready", "lag", "backlog"))

        changes = [
            s
            for i, s in enumerate(self.samples)
            if i == 0 or counts(s) != counts(self.samples[i - 1])
        ]
        return "\n".join(
            f"  t={s['t']:6.1f}s replicas={s['replicas']:.0f} ready={s['ready']:.0f}"
            f" lag={s.get('lag', -1.0):.0f} backlog={s.get('backlog', -1.0):.0f}"
            for s in changes
        )


# Photos are uploaded in bursts until KEDA has scaled out: one burst of 30 small photos can
# drain (lag 26 -> 0 in ~6 s on a quiet machine) between two of the HPA's 15 s syncs, and then
# nothing scales. Bounded: at most MAX_PHOTOS, and the wait below.
BURST = 15
MAX_PHOTOS = 300


def _backlog_until_scaled(kube: Kube, gallery: Gallery, maximum: int) -> list[str]:
    """Upload bursts until the worker Deployment asks for ``maximum`` replicas; the ids."""
    ids: list[str] = []

    def scaled() -> bool:
        if kube.get("deployment", "gallery-worker")["spec"]["replicas"] >= maximum:
            return True
        if len(ids) < MAX_PHOTOS:
            ids.extend(gallery.upload_photos(BURST, seed=500 + len(ids)))
        return False

    wait_for(f"KEDA to scale the workers to {maximum}", scaled, timeout=300, every=2)
    return ids


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


def test_keda_scales_workers_up_on_one_tenants_backlog_and_back_down(
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
    try:
        ids = _backlog_until_scaled(kube, gallery, maximum)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{recorder.table()}\n{_diagnose(kube)}") from None
    gallery.wait_all_ready(ids, timeout=900)
    wait_for(
        "KEDA to scale the workers back to 1",
        lambda: kube.get("deployment", "gallery-worker")["spec"]["replicas"] == 1,
        timeout=420,
        every=3,
    )
    peak = max(s["replicas"] for s in recorder.samples)
    assert peak == maximum
    # One tenant: its lag stops at the fairness cap (below the test overlay's lagThreshold of
    # 10, so the lag never asked for the second worker), the backlog KEDA read went beyond it.
    lag = max(s["lag"] for s in recorder.samples)
    backlog = max(s["backlog"] for s in recorder.samples)
    assert backlog > lag, f"backlog {backlog} never above the lag {lag}:\n{recorder.table()}"
