"""A real single-node Kubernetes cluster for the session, and the test overlay running on it.

scripts/cluster/prepare.sh (tox env ``cluster``, before pytest) has built every binary and
image. Here: cluster-up.sh once per session, cluster-down.sh always afterwards (finalizer,
registered before the cluster starts, so a half-started cluster is stopped too), then the
overlay deploy/kustomize/testing/cluster with what a real cluster gets out of band (Secrets,
StorageClass and PersistentVolumes, CRDs). Root only: the node needs containerd and iptables.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.domain.roles import ROLES, Credential, seaweedfs_identities
from tests.cluster.crds import crds
from tests.cluster.kube import Kube, wait_for
from tests.cluster.prometheus import PrometheusApi
from tests.cluster.prometheus import manifests as prometheus_manifests
from tests.cluster.tools import ROOT, kustomize_build, script

STATE = Path(os.environ.get("GALLERY_CLUSTER_STATE", "/var/tmp/gallery-cluster"))
NAMESPACE = "gallery-dev"
OVERLAY = ROOT / "deploy" / "kustomize" / "testing" / "cluster"


def role_secret(role: str) -> str:
    """The test cluster's fixed secret of ``role`` (a throwaway cluster, never reused)."""
    return f"gallery-test-{role}-secret-key"


PV_COUNT = 10  # dev overlay 3, NATS cluster overlay 5, spare 2
TOPOLOGY = os.environ.get("GALLERY_CLUSTER_TOPOLOGY", "single")
UP_DOWN_SINGLE = ("cluster-up.sh", "cluster-down.sh")


@pytest.fixture(scope="session")
def cluster() -> Iterator[Kube]:
    if os.geteuid() != 0:
        pytest.fail("the cluster tests need root (containerd, iptables); in CI run them with sudo")
    # GALLERY_CLUSTER_TOPOLOGY=seed: the seed's four machines (seed-up.sh), else one node.
    up, down = ("seed-up.sh", "seed-down.sh") if TOPOLOGY == "seed" else UP_DOWN_SINGLE
    script(down, str(STATE), timeout=300)  # leftovers of an interrupted run
    try:  # the finally also stops a half-started cluster
        script(up, str(STATE), timeout=600)
        bindir = Path(script("build-k8s.sh", "kubectl").splitlines()[-1])
        yield Kube(bindir / "kubectl", STATE / "kubeconfig")
    finally:
        script(down, str(STATE), timeout=300)


def storage(kube: Kube) -> None:
    """StorageClass openebs-hostpath (the name the manifests use) and static hostPath PVs.

    No dynamic provisioner: the PVs exist before the claims and bind to them. The directories
    are world-writable because hostPath volumes ignore fsGroup.
    """
    docs: list[dict[str, object]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "openebs-hostpath"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Retain",
        }
    ]
    for index in range(PV_COUNT):
        path = STATE / "volumes" / f"pv{index}"
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o1777)
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"gallery-pv{index}"},
                "spec": {
                    "capacity": {"storage": "64Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "openebs-hostpath",
                    "hostPath": {"path": str(path), "type": "Directory"},
                },
            }
        )
    kube.apply(yaml.safe_dump_all(docs))


def secrets(kube: Kube) -> None:
    """The Secrets the manifests expect out of band (docs/operations.md), in kube's namespace:
    each role's credentials (its own S3 identity, NATS user and catalog URI) and the S3
    identities SeaweedFS serves (pipeline.domain.roles). The catalog stand-in (SecantusDB)
    runs without users, so every role's URI names the same unauthenticated server there."""
    credentials = {role: Credential(f"gallery-{role}", role_secret(role)) for role in ROLES}
    uri = f"mongodb://gallery-mongo-svc.{kube.namespace}.svc.cluster.local:27017/?directConnection=true"

    def secret(name: str, data: dict[str, str]) -> dict[str, object]:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}

    docs = [
        secret(
            "gallery-s3-identities",
            {"s3.json": json.dumps(seaweedfs_identities("gallery", credentials))},
        )
    ]
    # Production's SeaweedFS filers (components/seaweedfs-cluster) keep their metadata in
    # the catalog under a user of their own.
    docs.append(secret("seaweedfs-filer-mongo-uri", {"connectionString.standard": uri}))
    for role, credential in credentials.items():
        docs.append(secret(f"gallery-{role}-mongo-uri", {"connectionString.standard": uri}))
        docs.append(
            secret(
                f"gallery-{role}-credentials",
                {
                    "s3-access-key-id": credential.user,
                    "s3-secret-access-key": credential.password,
                    "nats-user": credential.user,
                    "nats-password": credential.password,
                    "mongo-password": credential.password,
                },
            )
        )
    kube.apply(yaml.safe_dump_all(docs))


@dataclass
class Deployed:
    """The test overlay running: kubectl in its namespace and a tenant's API key."""

    kube: Kube
    api_key: str

    @property
    def gateway_url(self) -> str:
        return f"http://{self.kube.service_ip('gallery-gateway')}"


def apply_in_waves(kube: Kube, rendered: str) -> None:
    """Apply like ArgoCD syncs: by ``argocd.argoproj.io/sync-wave``, each wave's StatefulSets
    rolled out before the next wave (the processes fail fast while NATS, S3 or the catalog
    are missing, and a crash-looping pod's back-off would outlast the test's patience)."""
    waves: dict[int, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all(rendered):
        if doc:
            annotations = doc["metadata"].get("annotations", {})
            waves.setdefault(int(annotations.get("argocd.argoproj.io/sync-wave", "0")), []).append(
                doc
            )
    for wave in sorted(waves):
        kube.apply(yaml.safe_dump_all(waves[wave]))
        for doc in waves[wave]:
            if doc["kind"] == "StatefulSet":
                kube.rollout(f"statefulset/{doc['metadata']['name']}", timeout=300)


def wait_ready(kube: Kube) -> None:
    """Every StatefulSet, then every Deployment of the namespace rolled out (the overlays
    differ: dev's one SeaweedFS server, production's masters, volume servers, filers, S3)."""
    for kind in ("statefulset", "deployment"):
        for item in kube.get(f"{kind}s")["items"]:
            kube.rollout(f"{kind}/{item['metadata']['name']}", timeout=300)


def deploy_overlay(cluster: Kube, namespace: str, overlay: Path) -> Deployed:
    """Namespace, Secrets, the overlay applied, every workload rolled out, an API key."""
    cluster.run("create", "namespace", namespace, namespaced=False)
    kube = cluster.in_namespace(namespace)
    secrets(kube)
    try:
        apply_in_waves(kube, kustomize_build(overlay))
        wait_ready(kube)
    except (AssertionError, subprocess.CalledProcessError):
        print(kube.run("get", "pods,pvc,events", "-o", "wide"))
        print(kube.logs("app.kubernetes.io/part-of=gallery-pipeline"))
        raise
    command = ["gallery", "keys", "create", "--tenant", "cluster-test", "--name", "pytest"]
    key = wait_for(
        "an API key from `gallery keys create` in the gateway pod",
        lambda: kube.run("exec", "deploy/gallery-gateway", "--", *command).strip().splitlines()[-1],
        timeout=120,
        every=3,
    )
    return Deployed(kube, key)


def install_crds(cluster: Kube) -> None:
    """The CRDs of the kinds the overlays use (no controllers), established."""
    cluster.apply(yaml.safe_dump_all(crds()))
    for crd in crds():
        name = f"crd/{crd['metadata']['name']}"
        cluster.run("wait", "--for=condition=Established", name, "--timeout=60s", namespaced=False)


@pytest.fixture(scope="session")
def deployed(cluster: Kube) -> Deployed:
    """overlays/dev through testing/cluster, with what a real cluster gets out of band."""
    script("images.sh", "load", "app", "nats", "catalog", "seaweedfs", timeout=900)
    storage(cluster)
    install_crds(cluster)
    return deploy_overlay(cluster, NAMESPACE, OVERLAY)


@pytest.fixture(scope="session")
def seed(cluster: Kube) -> Deployed:
    """overlays/production through testing/production on the four nodes, its volumes from
    local-path-provisioner (dynamic, node-local), with what production gets out of band."""
    from tests.cluster import seed as four_nodes

    script("images.sh", "load", "app", "nats", "catalog", "seaweedfs", timeout=900)
    four_nodes.install_local_path_provisioner(cluster)
    install_crds(cluster)
    return deploy_overlay(cluster, four_nodes.NAMESPACE, four_nodes.OVERLAY)


@pytest.fixture
def scenario(capsys: pytest.CaptureFixture[str]) -> Callable[[str], None]:
    """Prints a scenario's line (``cluster NAME: figures``) to the terminal even while pytest
    captures output, so the cluster env's log carries the figures of passing tests too."""

    def say(line: str) -> None:
        with capsys.disabled():
            print(f"\n{line}", flush=True)

    return say


@pytest.fixture(scope="session")
def keda(deployed: Deployed, prometheus: PrometheusApi) -> Kube:
    """KEDA running (skips when it did not build); the overlay's ScaledObject now acts. Its
    backlog triggers read Prometheus, so that runs first: without it they fail, the
    ScaledObject is not Ready and ArgoCD would not call the application Healthy."""
    from tests.cluster.platform import install_keda

    return install_keda(deployed.kube.in_namespace("default"))


@pytest.fixture(scope="session")
def prometheus(deployed: Deployed) -> PrometheusApi:
    """Prometheus scraping the gallery pods with the shipped rules."""
    script("images.sh", "load", "prometheus", timeout=600)
    image = script("images.sh", "tag", "prometheus")
    deployed.kube.apply(yaml.safe_dump_all(prometheus_manifests(image)), namespaced=False)
    api = PrometheusApi(deployed.kube)
    api.kube.rollout("deployment/prometheus", timeout=300)
    return api


ORDER = (
    "test_image",
    "test_dev_overlay",
    "test_metallb",
    "test_keda",
    "test_prometheus",
    # After the others: its commit rolls the app Deployments out under another image tag.
    "test_argocd",
)


# The tests of the four-node cluster (GALLERY_CLUSTER_TOPOLOGY=seed, scripts/cluster/seed-up.sh);
# every other module needs the single node gallery-node.
SEED_MODULES = ("test_seed_nodes",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Cheap checks first, the namespace-replacing NATS cluster test last; the tests of the
    topology this run did not start are skipped, saying which one they need."""

    def module_of(item: pytest.Item) -> str:
        return item.module.__name__.rsplit(".", 1)[-1] if item.module else ""

    def rank(item: pytest.Item) -> int:
        module = module_of(item)
        return ORDER.index(module) if module in ORDER else len(ORDER)

    items.sort(key=rank)
    for item in items:
        if TOPOLOGY == "seed" and module_of(item) not in SEED_MODULES:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs the single test node (this run started the four-node cluster: "
                    "GALLERY_CLUSTER_TOPOLOGY=seed)"
                )
            )
        elif TOPOLOGY != "seed" and module_of(item) in SEED_MODULES:
            item.add_marker(
                pytest.mark.skip(
                    reason="needs the four-node cluster, started only with "
                    "GALLERY_CLUSTER_TOPOLOGY=seed (this run started the single node)"
                )
            )
