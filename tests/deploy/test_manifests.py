"""The rendered overlays: valid Kubernetes, valid custom resources, and safe pods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.conftest import BUILDS, OVERLAYS, Build, run, tool
from tests.deploy.k8s import (
    SERVING_KINDS,
    containers,
    group_of,
    job_spec,
    pod_spec,
    pod_template,
    workloads,
)

pytestmark = pytest.mark.deploy

SCHEMAS = Path(__file__).parent / "schemas"
# The k0s release Terraform installs follows this Kubernetes minor.
KUBERNETES_VERSION = "1.34.0"
BUILTIN_GROUPS = {
    "",
    "apps",
    "batch",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "autoscaling",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
}
WORKER_NODES = ("nl-cloud-hf-22-w1", "nl-cloud-hf-22-w2", "nl-cloud-hf-22-w3")


def crd_schema(doc: dict[str, Any]) -> dict[str, Any] | None:
    group, _, version = doc["apiVersion"].partition("/")
    path = SCHEMAS / f"{group}_{doc['kind'].lower()}_{version}.json"
    return json.loads(path.read_text()) if path.exists() else None


def test_every_vendored_schema_is_a_valid_json_schema() -> None:
    files = sorted(SCHEMAS.glob("*.json"))
    assert len(files) >= 12
    for path in files:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


@pytest.mark.parametrize("name", BUILDS)
def test_builtin_kinds_pass_kubernetes_validate_strict(builds: dict[str, Build], name: str) -> None:
    build = builds[name]
    result = run(
        [
            tool("kubernetes-validate"),
            "--strict",
            "-k",
            KUBERNETES_VERSION,
            "--quiet",
            str(build.path),
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # kubernetes-validate only warns about kinds it has no schema for: those must be exactly
    # the custom resources validated against the vendored CRD schemas below.
    for line in result.stdout.splitlines():
        assert line.startswith("WARN"), line
        assert "Couldn't find schema for kind" in line, line
    custom = {doc["kind"] for doc in build.docs if group_of(doc) not in BUILTIN_GROUPS}
    warned = {line.split("kind ", 1)[1].split(" ", 1)[0] for line in result.stdout.splitlines()}
    assert warned == custom


@pytest.mark.parametrize("name", BUILDS)
def test_custom_resources_match_vendored_crd_schemas(builds: dict[str, Build], name: str) -> None:
    for doc in builds[name].docs:
        if group_of(doc) in BUILTIN_GROUPS:
            continue
        schema = crd_schema(doc)
        assert schema is not None, f"no vendored schema for {doc['apiVersion']} {doc['kind']}"
        jsonschema.Draft202012Validator(schema).validate(doc)


def test_schemas_catch_typos() -> None:
    """The vendored schemas are closed where the CRDs are: a misspelt field is an error."""
    stream = {
        "apiVersion": "jetstream.nats.io/v1beta2",
        "kind": "Stream",
        "metadata": {"name": "s"},
        "spec": {"name": "S", "retention": "workqueue", "replica": 3},
    }
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "w"},
        "spec": {
            "scaleTargetRef": {"name": "w"},
            "maxReplicas": 3,
            "triggers": [{"type": "x", "metadata": {}}],
        },
    }
    for doc in (stream, scaled):
        schema = crd_schema(doc)
        assert schema is not None
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, schema)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_limited_probed_and_unprivileged(
    overlays: dict[str, Build], overlay: str
) -> None:
    found = 0
    for doc in workloads(overlays[overlay].docs):
        pod = pod_spec(doc)
        where = f"{overlay} {doc['kind']}/{doc['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        assert pod.get("automountServiceAccountToken") is False, where
        for container in containers(doc):
            found += 1
            name = f"{where} container {container['name']}"
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind}"
            if doc["kind"] in SERVING_KINDS:
                assert "livenessProbe" in container, name
                assert "readinessProbe" in container, name
            else:
                # A run-to-completion pod has nothing to probe: a deadline bounds it instead.
                assert job_spec(doc)["activeDeadlineSeconds"] > 0, name
                assert job_spec(doc)["backoffLimit"] >= 0, name
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "add" not in context["capabilities"], name
            assert context["seccompProfile"]["type"] == "RuntimeDefault", name
            assert pod["securityContext"].get("runAsUser", 0) > 0, name
    assert found >= 4


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_mongodb_members_have_limits(overlays: dict[str, Build], overlay: str) -> None:
    """The operator builds the MongoDB pods; the CR's statefulSet override sizes them."""
    mongo = overlays[overlay].get("MongoDBCommunity", "gallery-mongo")
    override = mongo["spec"]["statefulSet"]["spec"]["template"]["spec"]["containers"]
    assert {c["name"] for c in override} == {"mongod", "mongodb-agent"}
    for container in override:
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_pinned(overlays: dict[str, Build], overlay: str) -> None:
    for doc in workloads(overlays[overlay].docs):
        for container in containers(doc):
            image = container["image"]
            reference, _, digest = image.partition("@")
            assert not digest or digest.startswith("sha256:"), image
            name, _, tag = reference.rpartition(":")
            assert name, f"{image} has no tag"
            assert "/" not in tag, f"{image} has no tag"
            assert tag not in {"latest", "main", "master"}, image
            assert any(ch.isdigit() for ch in tag), f"{image}: tag is not a version"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gallery_image_and_commands(overlays: dict[str, Build], overlay: str) -> None:
    build = overlays[overlay]
    for name, command in (("gallery-gateway", "gateway"), ("gallery-worker", "worker")):
        (container,) = pod_spec(build.get("Deployment", name))["containers"]
        assert container["image"].split("@")[0].rsplit(":", 1)[0].endswith("/gallery-pipeline")
        assert container["args"] == [command]
        assert "command" not in container


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_namespaced_and_labelled(overlays: dict[str, Build], overlay: str) -> None:
    namespaces = {doc["metadata"].get("namespace") for doc in overlays[overlay].docs}
    assert len(namespaces) == 1
    assert None not in namespaces
    assert "default" not in namespaces


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_disruption_budgets_cover_every_workload(
    overlays: dict[str, Build], overlay: str
) -> None:
    build = overlays[overlay]
    selectors = [
        pdb["spec"]["selector"]["matchLabels"] for pdb in build.of_kind("PodDisruptionBudget")
    ]
    # Jobs are not disrupted by a drain in any way a budget helps: an evicted pod is retried.
    labels = [pod_spec_labels(doc) for doc in workloads(build.docs) if doc["kind"] in SERVING_KINDS]
    labels.append({"app": "gallery-mongo-svc"})  # the operator's StatefulSet
    for pod_labels in labels:
        assert any(sel.items() <= pod_labels.items() for sel in selectors), pod_labels


def pod_spec_labels(doc: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = pod_template(doc)["metadata"]["labels"]
    return labels


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_cover_every_pod(
    overlays: dict[str, Build], overlay: str
) -> None:
    build = overlays[overlay]
    policies = build.of_kind("NetworkPolicy")
    deny = build.get("NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    pods = [pod_spec_labels(doc) for doc in workloads(build.docs)] + [{"app": "gallery-mongo-svc"}]
    for pod_labels in pods:
        specific = [
            p
            for p in policies
            if p["spec"]["podSelector"]
            and p["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
        ]
        assert specific, f"no NetworkPolicy selects {pod_labels}"
    # Nothing allows traffic from everywhere except the gateway's public port.
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:
                assert policy["metadata"]["name"] == "gallery-gateway"
                assert [p["port"] for p in rule["ports"]] == [8080]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_spread_over_the_nodes(overlays: dict[str, Build], overlay: str) -> None:
    for doc in workloads(overlays[overlay].docs):
        if doc["kind"] not in SERVING_KINDS:
            continue  # one pod at a time: nothing to spread
        constraints = pod_spec(doc)["topologySpreadConstraints"]
        assert any(c["topologyKey"] == "kubernetes.io/hostname" for c in constraints)


def test_production_runs_on_the_three_workers(overlays: dict[str, Build]) -> None:
    build = overlays["production"]
    for name in ("gallery-gateway", "gallery-worker"):
        pod = pod_spec(build.get("Deployment", name))
        (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ]
        (expr,) = term["matchExpressions"]
        assert expr["key"] == "kubernetes.io/hostname"
        assert tuple(expr["values"]) == WORKER_NODES
        assert "podAntiAffinity" in pod["affinity"]
    worker = pod_spec(build.get("Deployment", "gallery-worker"))
    assert [c["whenUnsatisfiable"] for c in worker["topologySpreadConstraints"]] == [
        "DoNotSchedule"
    ]
    assert build.get("StatefulSet", "nats")["spec"]["replicas"] == 3
    assert build.get("MongoDBCommunity", "gallery-mongo")["spec"]["members"] == 3
    assert build.get("ScaledObject", "gallery-worker")["spec"]["minReplicaCount"] == 3
    l2 = {doc["metadata"]["name"]: doc for doc in overlays_metallb_docs(build)}
    assert not l2  # MetalLB's pool is cluster-wide: only platform/metallb-config builds it


def overlays_metallb_docs(build: Build) -> list[dict[str, Any]]:
    return [doc for doc in build.docs if group_of(doc) == "metallb.io"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_replicas_belong_to_keda(overlays: dict[str, Build], overlay: str) -> None:
    build = overlays[overlay]
    worker = build.get("Deployment", "gallery-worker")
    assert "replicas" not in worker["spec"]
    scaled = build.get("ScaledObject", "gallery-worker")
    target = scaled["spec"]["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", "gallery-worker")
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_is_a_metallb_load_balancer(builds: dict[str, Build], overlay: str) -> None:
    service = builds[overlay].get("Service", "gallery-gateway")
    assert service["spec"]["type"] == "LoadBalancer"
    annotations = service["metadata"]["annotations"]
    assert all(key.startswith("metallb.io/") for key in annotations if "metallb" in key)
    pool = builds["metallb-config"].get("IPAddressPool", "gallery-pool")
    assert pool["metadata"]["namespace"] == "metallb-system"
    assert annotations["metallb.io/address-pool"] == pool["metadata"]["name"]
    l2 = builds["metallb-config"].get("L2Advertisement", "gallery-l2")
    assert l2["spec"]["ipAddressPools"] == ["gallery-pool"]
    nodes = l2["spec"]["nodeSelectors"][0]["matchExpressions"][0]["values"]
    assert tuple(nodes) == WORKER_NODES


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stateful_services_use_persistent_volumes(overlays: dict[str, Build], overlay: str) -> None:
    build = overlays[overlay]
    # Production runs SeaweedFS as a cluster (masters and volume servers keep state); dev and
    # staging the all-in-one server.
    stores = ("seaweedfs-master", "seaweedfs-volume") if overlay == "production" else ("seaweedfs",)
    for name in ("nats", *stores):
        claims = build.get("StatefulSet", name)["spec"]["volumeClaimTemplates"]
        assert claims
        assert all(c["spec"]["storageClassName"] == "openebs-hostpath" for c in claims)
    mongo = build.get("MongoDBCommunity", "gallery-mongo")
    assert mongo["spec"]["type"] == "ReplicaSet"
    for doc in workloads(build.docs):
        for container in containers(doc):
            assert "minio" not in container["image"]
            assert "bitnami" not in container["image"]
