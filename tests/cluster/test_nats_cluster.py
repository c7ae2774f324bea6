"""NATS as production runs it: three servers, every stream replicated three ways (the
production overlay's nats-cluster, anti-affinity relaxed for one node). Killing the server that
leads the jobs stream in the middle of a batch loses no photo.

Runs last: it first removes the dev namespace, so the two cores hold one gallery at a time.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.cluster.client import Gallery
from tests.cluster.conftest import Deployed, deploy_overlay
from tests.cluster.kube import Kube, wait_for
from tests.cluster.tools import ROOT

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1500)]

OVERLAY = ROOT / "deploy" / "kustomize" / "testing" / "nats-cluster"
NATS = "app.kubernetes.io/name=nats"


def stream_info(kube: Kube, pod: str, name: str) -> dict[str, Any] | None:
    """The stream as one server's /jsz reports it (config, state, cluster leader/replicas)."""
    ip = kube.get("pod", pod)["status"]["podIP"]
    url = f"http://{ip}:8222/jsz?streams=true&config=true"
    with urllib.request.urlopen(url, timeout=5) as response:
        data = json.loads(response.read())
    for account in data.get("account_details", []):
        for stream in account.get("stream_detail", []):
            if stream["name"] == name:
                info: dict[str, Any] = stream
                return info
    return None


def replicated(kube: Kube, name: str) -> dict[str, Any] | None:
    """The stream's info from its leader once it has three replicas, all current.

    Only the leader knows whether every follower is current, so ask it (found from nats-0).
    """
    seen = stream_info(kube, "nats-0", name)
    leader = (seen or {}).get("cluster", {}).get("leader")
    if not seen or seen["config"].get("num_replicas") != 3 or not leader:
        return None
    info = stream_info(kube, leader, name)
    replicas = (info or {}).get("cluster", {}).get("replicas", [])
    if len(replicas) != 2 or not all(r.get("current") for r in replicas):
        return None
    return info


@pytest.fixture(scope="module")
def ha(cluster: Kube, deployed: Deployed) -> Deployed:
    deployed.kube.run("delete", "namespace", deployed.kube.namespace, "--timeout=300s", timeout=360)
    return deploy_overlay(cluster, "gallery-ha", OVERLAY)


def test_three_nats_servers_replicate_the_streams_and_losing_the_leader_loses_nothing(
    ha: Deployed,
) -> None:
    kube = ha.kube
    assert len(kube.ready_pods(NATS)) == 3
    jobs = wait_for(
        "GALLERY_RENDER with 3 current replicas", lambda: replicated(kube, "GALLERY_RENDER"), 300, 3
    )
    for name in ("GALLERY_EVENTS", "GALLERY_DLQ"):
        wait_for(f"{name} with 3 replicas", lambda n=name: replicated(kube, n), 300, 3)

    gallery = Gallery(ha.gateway_url, ha.api_key)
    ids = gallery.upload_photos(10, seed=800)
    wait_for(
        "the workers to be mid-batch",
        lambda: 0 < list(gallery.statuses(ids).values()).count("ready") < len(ids),
        timeout=300,
    )
    leader = jobs["cluster"]["leader"]
    kube.run("delete", "pod", leader, "--grace-period=0", "--force", "--wait=false")
    print(f"\nkilled {leader}, the GALLERY_RENDER leader, with {gallery.statuses(ids)}")

    gallery.wait_all_ready(ids, timeout=900)
    wait_for("three NATS servers again", lambda: len(kube.ready_pods(NATS)) == 3, 300, 3)
    after = wait_for(
        "GALLERY_RENDER fully replicated again", lambda: replicated(kube, "GALLERY_RENDER"), 300, 3
    )
    print(f"GALLERY_RENDER leader now {after['cluster']['leader']}")
