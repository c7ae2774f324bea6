"""The dev overlay live (through testing/cluster): photos in through the gateway Service, out as
renditions, and nothing lost when a worker pod or the NATS pod goes away."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from tests.cluster.client import Gallery
from tests.cluster.conftest import Deployed
from tests.cluster.kube import Kube, wait_for
from tests.images import size_of, sniffed

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

WORKERS = "app.kubernetes.io/component=worker"
NATS = "app.kubernetes.io/name=nats"


@pytest.fixture(scope="module")
def gallery(deployed: Deployed) -> Gallery:
    return Gallery(deployed.gateway_url, deployed.api_key)


def server_seconds(doc: dict[str, Any]) -> float:
    """Upload-to-ready as the catalog recorded it (created_at -> ready_at)."""
    created = datetime.fromisoformat(doc["created_at"])
    return (datetime.fromisoformat(doc["ready_at"]) - created).total_seconds()


def test_photos_uploaded_through_the_gateway_service_become_ready(gallery: Gallery) -> None:
    started = time.monotonic()
    ids = gallery.upload_photos(6, seed=100)
    gallery.wait_all_ready(ids, timeout=420)
    elapsed = time.monotonic() - started
    docs = [gallery.image(i) for i in ids]
    for doc in docs:
        for name, mime in (
            ("thumb", "image/webp"),
            ("preview", "image/webp"),
            ("large", "image/jpeg"),
        ):
            body, _ = gallery.rendition(doc, name)
            assert sniffed(body) == mime, name
            info = doc["renditions"][name]
            assert size_of(body) == (info["width"], info["height"]), name
        # Orientation 6 was stored sideways: the renditions come out upright (landscape).
        assert doc["renditions"]["preview"]["width"] > doc["renditions"]["preview"]["height"]
    seconds = sorted(server_seconds(d) for d in docs)
    print(
        f"\n{len(ids)} photos (2400x1600) through the cluster in {elapsed:.1f} s "
        f"({len(ids) / elapsed:.2f} photos/s, one worker, concurrency 1); upload-to-ready "
        f"median {seconds[len(seconds) // 2]:.1f} s, max {seconds[-1]:.1f} s"
    )


def test_a_worker_pod_deleted_mid_run_loses_nothing(gallery: Gallery, deployed: Deployed) -> None:
    kube = deployed.kube
    ids = gallery.upload_photos(10, seed=200)
    # Wait until the worker is in the middle of the batch: something done, something not.
    wait_for(
        "the worker to be mid-batch",
        lambda: 0 < list(gallery.statuses(ids).values()).count("ready") < len(ids),
        timeout=300,
    )
    victims = kube.ready_pods(WORKERS)
    assert victims
    kube.run("delete", "pod", *victims, "--wait=false")
    print(f"\ndeleted {victims} with {gallery.statuses(ids)}")
    gallery.wait_all_ready(ids, timeout=600)
    wait_for(
        "a replacement worker", lambda: set(kube.ready_pods(WORKERS)) - set(victims), timeout=180
    )


def jetstream(kube: Kube, pod: str) -> dict[str, Any]:
    """/jsz of one NATS pod, read from the node over the pod network."""
    ip = kube.get("pod", pod)["status"]["podIP"]
    url = f"http://{ip}:8222/jsz?streams=true"
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def stream_messages(kube: Kube, pod: str, name: str) -> int | None:
    for account in jetstream(kube, pod).get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] == name:
                return int(stream["state"]["messages"])
    return None


def test_nats_pod_restart_keeps_the_stream_on_its_volume(
    gallery: Gallery, deployed: Deployed
) -> None:
    kube = deployed.kube
    ids = gallery.upload_photos(2, seed=300)
    gallery.wait_all_ready(ids, timeout=300)
    claim_before = kube.get("pvc", "data-nats-0")["metadata"]["uid"]
    events_before = stream_messages(kube, "nats-0", "GALLERY_EVENTS")
    assert events_before, "GALLERY_EVENTS should hold the uploaded/ready events"

    kube.run("delete", "pod", "nats-0", "--wait=true", "--timeout=120s", timeout=180)
    wait_for("nats-0 back and ready", lambda: "nats-0" in kube.ready_pods(NATS), timeout=300)
    assert kube.get("pvc", "data-nats-0")["metadata"]["uid"] == claim_before
    events_after = wait_for(
        "GALLERY_EVENTS recovered from the volume",
        lambda: stream_messages(kube, "nats-0", "GALLERY_EVENTS"),
        timeout=120,
    )
    assert events_after >= events_before

    # The gateway and workers reconnect: a new photo still goes all the way.
    after = gallery.upload_photos(2, seed=310)
    gallery.wait_all_ready(after, timeout=420)


def test_scaled_workers_all_run_and_every_photo_ends_ready(
    gallery: Gallery, deployed: Deployed
) -> None:
    kube = deployed.kube
    kube.run("scale", "deployment/gallery-worker", "--replicas=2")
    try:
        wait_for("two ready workers", lambda: len(kube.ready_pods(WORKERS)) == 2, timeout=300)
        assert kube.get("deployment", "gallery-worker")["status"]["readyReplicas"] == 2
        ids = gallery.upload_photos(6, seed=400)
        gallery.wait_all_ready(ids, timeout=600)
        assert len(kube.ready_pods(WORKERS)) == 2
    finally:
        kube.run("scale", "deployment/gallery-worker", "--replicas=1")
    wait_for("back to one worker", lambda: len(kube.ready_pods(WORKERS)) == 1, timeout=300)
