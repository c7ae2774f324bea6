"""Operators watching Prometheus for real: the server scrapes the gateway and worker pods in
the cluster with the shipped rules; the figures and alerts are read through its HTTP API."""

from __future__ import annotations

import pytest

from tests.cluster.client import Gallery
from tests.cluster.conftest import Deployed
from tests.cluster.kube import Kube, wait_for
from tests.cluster.prometheus import PrometheusApi

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1500)]

BACKLOG_ALERT = "GalleryRenderBacklogGrowing"
PAUSE_SCALE_OUT = "autoscaling.keda.sh/paused-scale-out"


def test_upload_to_ready_and_counters_are_read_through_prometheus(
    deployed: Deployed, prometheus: PrometheusApi
) -> None:
    wait_for("gateway target up", lambda: prometheus.targets_up("gallery-gateway") >= 1, 180, 3)
    wait_for("worker target up", lambda: prometheus.targets_up("gallery-worker") >= 1, 180, 3)
    gallery = Gallery(deployed.gateway_url, deployed.api_key)
    ids = gallery.upload_photos(4, seed=600)
    gallery.wait_all_ready(ids, timeout=600)

    count = 'sum(gallery_upload_to_ready_seconds_count{namespace="gallery-dev"})'
    # Scrapes run every 5 s: wait until every photo has been counted.
    observed = wait_for(
        f"{len(ids)} upload_to_ready_seconds observations in Prometheus",
        lambda: (prometheus.value(count) or 0) >= len(ids) and prometheus.value(count),
        120,
        3,
    )
    median = prometheus.value(
        "histogram_quantile(0.5, sum by (le) (gallery_upload_to_ready_seconds_bucket))"
    )
    # The gateway pod lives through the session; worker pods come and go (their counters with
    # them), so the job counter is only required to be there and positive.
    uploads = prometheus.value('sum(gallery_http_requests_total{method="POST"})')
    jobs = prometheus.value('sum(gallery_jobs_total{outcome="ack"})')
    assert (uploads or 0) >= len(ids)
    assert (jobs or 0) > 0
    print(f"\nPrometheus: {observed:.0f} photos ready, median upload-to-ready {median:.1f} s")


def worker_replicas(kube: Kube) -> int:
    return int(kube.get("deployment", "gallery-worker")["spec"].get("replicas", 0))


def test_backlog_alert_goes_pending_with_no_workers_and_resolves_after_scale_up(
    deployed: Deployed, keda: Kube, prometheus: PrometheusApi
) -> None:
    kube = deployed.kube
    # KEDA owns the replica count: block its scale-out, allow zero, then take the workers
    # away. The alert reads the gateway's backlog gauge, which needs no worker.
    kube.run("annotate", "scaledobject", "gallery-worker", f"{PAUSE_SCALE_OUT}=true", "--overwrite")
    kube.run(
        "patch",
        "scaledobject",
        "gallery-worker",
        "--type=merge",
        "-p",
        '{"spec":{"minReplicaCount":0}}',
    )
    try:
        kube.run("scale", "deployment/gallery-worker", "--replicas=0")
        wait_for(
            "no workers", lambda: not kube.ready_pods("app.kubernetes.io/component=worker"), 180
        )
        gallery = Gallery(deployed.gateway_url, deployed.api_key)
        ids = gallery.upload_photos(110, seed=700, width=320, height=240)
        wait_for(
            f"{BACKLOG_ALERT} pending or firing",
            lambda: prometheus.alert_state(BACKLOG_ALERT) in ("pending", "firing"),
            timeout=300,
            every=5,
        )
        print(f"\n{BACKLOG_ALERT}: {prometheus.alert_state(BACKLOG_ALERT)} with the workers at 0")
    finally:
        kube.run("annotate", "scaledobject", "gallery-worker", f"{PAUSE_SCALE_OUT}-")
        kube.run(
            "patch",
            "scaledobject",
            "gallery-worker",
            "--type=merge",
            "-p",
            '{"spec":{"minReplicaCount":1}}',
        )
    wait_for("KEDA to bring the workers back", lambda: worker_replicas(kube) >= 1, 300, 3)
    gallery.wait_all_ready(ids, timeout=1000)
    wait_for(
        f"{BACKLOG_ALERT} resolved",
        lambda: prometheus.alert_state(BACKLOG_ALERT) == "inactive",
        timeout=300,
        every=5,
    )
