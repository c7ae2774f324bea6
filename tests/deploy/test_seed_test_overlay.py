"""The four-node test cluster runs production's manifests: testing/production may change only
what the machine forces, and its node list is the one Terraform reads."""

from __future__ import annotations

import copy
import json
import subprocess
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import KUSTOMIZE_DIR, ROOT, Build, run, tool
from tests.deploy.k8s import WORKLOAD_KINDS, containers, workloads
from tests.deploy.test_manifests import WORKER_NODES

pytestmark = pytest.mark.deploy

TEST_OVERLAY = KUSTOMIZE_DIR / "testing" / "production"
NODES_FILE = ROOT / "terraform" / "envs" / "production" / "nodes.auto.tfvars.json"


@pytest.fixture(scope="module")
def test_overlay(tmp_path_factory: pytest.TempPathFactory) -> Build:
    result = run([tool("kustomize"), "build", str(TEST_OVERLAY)])
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("build-testing-production") / "out.yaml"
    path.write_text(result.stdout)
    return Build("testing/production", [d for d in yaml.safe_load_all(result.stdout) if d], path)


#: Production's HTTPS (components/tls), which the test overlay takes back out: the test
#: cluster runs no cert-manager yet (docs/security.md, "Not yet").
TLS_KINDS = {"Certificate", "Issuer"}
TLS_SETTINGS = ("GALLERY_GATEWAY_TLS_CERT_FILE", "GALLERY_GATEWAY_TLS_KEY_FILE")


def _without_tls(doc: dict[str, Any]) -> None:
    if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("gallery-config"):
        doc["metadata"]["name"] = "gallery-config"
        for name in TLS_SETTINGS:
            doc["data"].pop(name, None)
    if doc["kind"] == "Service" and doc["metadata"]["name"] == "gallery-gateway":
        doc["spec"].pop("ports")
    if doc["kind"] == "Deployment":
        spec = doc["spec"]["template"]["spec"]
        spec["volumes"] = [v for v in spec.get("volumes", []) if v["name"] != "tls"]
        for container in containers(doc):
            for source in container.get("envFrom", []):
                source["configMapRef"]["name"] = "gallery-config"
            container["volumeMounts"] = [
                m for m in container.get("volumeMounts", []) if m["name"] != "tls"
            ]
            for probe in ("startupProbe", "livenessProbe"):
                container.get(probe, {}).get("httpGet", {}).pop("scheme", None)


def _machine_neutral(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without the fields the test overlay may change (its patches, one by one)."""
    doc = copy.deepcopy(doc)
    _without_tls(doc)
    if doc["kind"] in WORKLOAD_KINDS:
        for container in containers(doc):
            container.pop("image")
            container.pop("imagePullPolicy", None)
            container.get("resources", {}).get("requests", {}).pop("cpu", None)
        if doc["metadata"]["name"] == "gallery-worker":
            doc["spec"].pop("replicas", None)
    return doc


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    name = doc["metadata"]["name"]
    return doc["kind"], "gallery-config" if name.startswith("gallery-config-") else name


def test_changes_only_what_the_machine_forces(
    builds: dict[str, Build], test_overlay: Build
) -> None:
    production = {_key(d): d for d in builds["production"].docs}
    tested = {_key(d): d for d in test_overlay.docs}
    # The operator-managed replica set gives way to the one-member stand-in; production's
    # cert-manager resources are taken out (no cert-manager in the test cluster yet).
    tls = {key for key in production if key[0] in TLS_KINDS}
    assert tls, "production has its certificate from cert-manager"
    assert set(production) - set(tested) == {("MongoDBCommunity", "gallery-mongo")} | tls
    assert set(tested) - set(production) == {
        ("Service", "gallery-mongo-svc"),
        ("StatefulSet", "gallery-mongo"),
    }
    for key, doc in production.items():
        if key in tested:
            assert _machine_neutral(tested[key]) == _machine_neutral(doc), key


def test_only_local_images_never_pulled(test_overlay: Build) -> None:
    for doc in workloads(test_overlay.docs):
        for container in containers(doc):
            assert container["image"].startswith("localhost/"), container["image"]
            assert container["imagePullPolicy"] == "Never"


def test_worker_count_starts_at_kedas_floor(test_overlay: Build) -> None:
    worker = test_overlay.get("Deployment", "gallery-worker")
    scaled = test_overlay.get("ScaledObject", "gallery-worker")
    assert worker["spec"]["replicas"] == scaled["spec"]["minReplicaCount"] == len(WORKER_NODES)


def test_the_test_cluster_nodes_are_the_ones_terraform_reads() -> None:
    written = json.loads(NODES_FILE.read_text(encoding="utf-8"))["nodes"]
    listed = subprocess.run(
        [str(ROOT / "scripts" / "cluster" / "nodes.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.splitlines()
    rows = [line.split() for line in listed]
    assert {name: role for name, role, *_ in rows} == {n: v["role"] for n, v in written.items()}
    assert tuple(name for name, role, *_ in rows if role == "worker") == WORKER_NODES
    addresses = [address for _, _, address, *_ in rows]
    assert len(set(addresses)) == len(addresses)
