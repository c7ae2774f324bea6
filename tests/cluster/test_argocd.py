"""GitOps on the test cluster: ArgoCD syncs the test environment from a Git repository served
on the node's address, and a commit changing the overlay's image tag rolls out.

The project's own ApplicationSet (deploy/argocd) generates the Application, pointed at
``git daemon`` on 10.250.0.1 and at deploy/kustomize/testing/cluster only. ArgoCD takes over
the namespace the ``deployed`` fixture applied: same manifests, so the first sync changes
nothing. Healthy needs every resource healthy, so MetalLB (the gateway's LoadBalancer address)
and KEDA (the ScaledObject's Ready condition) run first, as the platform's sync waves order it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster.argocd import (
    PODS,
    GitServer,
    gallery_applicationset,
    install_argocd,
    serve_checkout,
    uninstall_argocd,
)
from tests.cluster.conftest import Deployed
from tests.cluster.kube import Kube, wait_for
from tests.cluster.platform import install_metallb
from tests.cluster.tools import ROOT, kustomize_build, script

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(2400)]

APPLICATION = "gallery-dev"  # the ApplicationSet's name template for the dev element
NEW_TAG = "argocd-rollout"
POOL = ROOT / "deploy" / "kustomize" / "testing" / "metallb-config"


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitServer]:
    server = serve_checkout(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def argocd(deployed: Deployed, keda: Kube) -> Iterator[Kube]:
    """MetalLB and KEDA, then ArgoCD; ArgoCD is removed afterwards (the workloads stay)."""
    install_metallb(deployed.kube)
    wait_for(
        "the pool accepted",
        lambda: deployed.kube.apply(kustomize_build(POOL), namespaced=False),
        180,
        every=3,
    )
    argocd = install_argocd(deployed.kube)
    yield argocd
    uninstall_argocd(argocd)


def application_state(argocd: Kube) -> tuple[str, str, str]:
    """(sync status, health status, synced revision) of the generated Application."""
    status = argocd.get("application", APPLICATION).get("status", {})
    sync, health = status.get("sync", {}), status.get("health", {})
    return sync.get("status", ""), health.get("status", ""), sync.get("revision", "")


def wait_synced_healthy(argocd: Kube, revision: str) -> float:
    """Seconds until the Application is Synced and Healthy at ``revision``."""
    started = time.monotonic()
    try:
        wait_for(
            f"{APPLICATION} Synced and Healthy at {revision[:12]}",
            lambda: application_state(argocd) == ("Synced", "Healthy", revision),
            timeout=600,
            every=2,
        )
    except AssertionError:
        print(yaml.safe_dump(argocd.get("application", APPLICATION).get("status", {})))
        print(argocd.logs(PODS, tail=30))
        raise
    return time.monotonic() - started


def app_images(kube: Kube) -> set[str]:
    return {
        container["image"]
        for name in ("gallery-gateway", "gallery-worker")
        for container in kube.get("deployment", name)["spec"]["template"]["spec"]["containers"]
    }


def ready_images(kube: Kube) -> set[str]:
    """Images of the gateway and worker pods that are Ready and not terminating."""
    selector = "app.kubernetes.io/name=gallery"
    ready = set(kube.ready_pods(selector))
    return {
        container["image"]
        for pod in kube.pods(selector)
        if pod["metadata"]["name"] in ready
        for container in pod["spec"]["containers"]
    }


def test_a_commit_changing_the_image_tag_rolls_out_through_argocd(
    deployed: Deployed, argocd: Kube, git_server: GitServer
) -> None:
    kube = deployed.kube
    argocd.apply(yaml.safe_dump_all(gallery_applicationset(git_server.url)))
    first_sync = wait_synced_healthy(argocd, git_server.head())
    assert app_images(kube) == {"localhost/gallery-pipeline:test"}

    script("images.sh", "retag", "app", NEW_TAG)  # the same image content under the new tag
    commit = git_server.commit_image_tag(NEW_TAG)
    rollout = wait_synced_healthy(argocd, commit)
    assert app_images(kube) == {f"localhost/gallery-pipeline:{NEW_TAG}"}
    for workload in ("deployment/gallery-gateway", "deployment/gallery-worker"):
        kube.rollout(workload, timeout=300)
    wait_for(
        "only the new tag in the ready gateway and worker pods",
        lambda: ready_images(kube) == {f"localhost/gallery-pipeline:{NEW_TAG}"},
        timeout=120,
    )
    print(
        f"\nArgoCD: first sync Synced/Healthy in {first_sync:.0f} s; "
        f"commit {commit[:12]} ({NEW_TAG}) Synced/Healthy {rollout:.0f} s after the push"
    )
