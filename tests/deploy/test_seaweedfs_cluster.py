"""Production's object store is a SeaweedFS cluster that survives a node: three Raft masters,
a volume server per worker node with its node as rack and replication 010, filers on a
replicated metadata store, the S3 gateway in front, and the two maintenance runs (pre-grown
volumes, volume.fix.replication). tests/integration/test_object_store_cluster.py runs the same
layout as local processes and kills a rack."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import Build
from tests.deploy.k8s import containers, job_spec, pod_spec
from tests.deploy.test_manifests import WORKER_NODES

pytestmark = pytest.mark.deploy


def _args(doc: dict[str, Any]) -> dict[str, str]:
    """The ``-name=value`` flags of a workload's one container."""
    (container,) = containers(doc)
    return dict(a.lstrip("-").split("=", 1) for a in container["args"][1:] if "=" in a)


def _env(doc: dict[str, Any]) -> dict[str, Any]:
    (container,) = containers(doc)
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _one_per_node(doc: dict[str, Any]) -> None:
    """Required anti-affinity on the hostname against its own pods: never two on one node."""
    pod = pod_spec(doc)
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= pod_labels(doc).items()


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


@pytest.fixture(scope="module")
def production(overlays: dict[str, Build]) -> Build:
    return overlays["production"]


def _masters(build: Build) -> list[str]:
    master = build.get("StatefulSet", "seaweedfs-master")
    service = master["spec"]["serviceName"]
    return [f"{master['metadata']['name']}-{i}.{service}:9333" for i in range(3)]


def test_three_raft_masters_one_per_node_with_replication_010(production: Build) -> None:
    master = production.get("StatefulSet", "seaweedfs-master")
    assert master["spec"]["replicas"] == 3
    _one_per_node(master)
    args = _args(master)
    assert args["defaultReplication"] == "010"
    # Raft recognises itself in the peer list only when -ip:-port is spelled as there.
    assert args["peers"].split(",") == _masters(production)
    assert f"{args['ip']}:{args['port']}" == "$(POD_NAME).seaweedfs-master:9333"
    service = production.get("Service", "seaweedfs-master")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    budget = production.get("PodDisruptionBudget", "seaweedfs-master")
    assert budget["spec"]["maxUnavailable"] == 1  # two of three keep the quorum


def test_a_volume_server_per_worker_node_its_rack_the_node(production: Build) -> None:
    volume = production.get("StatefulSet", "seaweedfs-volume")
    assert volume["spec"]["replicas"] == len(WORKER_NODES)
    _one_per_node(volume)
    args = _args(volume)
    assert args["rack"] == "$(NODE_NAME)"
    assert _env(volume)["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert args["dataCenter"] == "gallery"  # one data center, fixed
    assert args["master"].split(",") == _masters(production)
    (claim,) = volume["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "openebs-hostpath"


def test_filers_share_a_metadata_store_that_survives_a_node(production: Build) -> None:
    filer = production.get("Deployment", "seaweedfs-filer")
    assert filer["spec"]["replicas"] >= 2
    _one_per_node(filer)
    env = _env(filer)
    # Exactly one store: the catalog's MongoDB replica set (three members in production).
    assert env["WEED_MONGODB_ENABLED"] == "true"
    assert env["WEED_LEVELDB2_ENABLED"] == "false"
    uri = env["WEED_MONGODB_URI"]["secretKeyRef"]["name"]
    mongo = production.get("MongoDBCommunity", "gallery-mongo")["spec"]
    assert mongo["members"] == 3
    user = next(u for u in mongo["users"] if u["connectionStringSecretName"] == uri)
    (role,) = [r for r in mongo["security"]["roles"] if r["role"] == user["roles"][0]["name"]]
    reach = {(p["resource"]["db"], p["resource"]["collection"]) for p in role["privileges"]}
    assert reach == {("gallery", "filemeta")}, "the filers' user touches their own collection only"
    assert _args(filer)["master"].split(",") == _masters(production)
    assert "volumeClaimTemplates" not in filer["spec"]  # nothing of its own to lose


def test_the_gallery_reaches_the_s3_gateway_in_front(production: Build) -> None:
    s3 = production.get("Deployment", "seaweedfs-s3")
    assert s3["spec"]["replicas"] >= 2
    _one_per_node(s3)
    assert _args(s3)["filer"] == "seaweedfs-filer:8888"
    service = production.get("Service", "seaweedfs-s3")
    assert service["spec"]["selector"].items() <= pod_labels(s3).items()
    config = production.get("ConfigMap", _config_name(production))
    assert (
        config["data"]
        .get("GALLERY_S3_ENDPOINT", "http://seaweedfs-s3:8333")
        .startswith("http://seaweedfs-s3:8333")
    )


def _config_name(build: Build) -> str:
    (config,) = [
        d for d in build.of_kind("ConfigMap") if d["metadata"]["name"].startswith("gallery-config")
    ]
    name: str = config["metadata"]["name"]
    return name


def test_volumes_are_pre_grown_for_the_gallery_bucket_after_every_sync(production: Build) -> None:
    grow = production.get("Job", "seaweedfs-volume-grow")
    assert grow["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
    (container,) = containers(grow)
    script = container["args"][0]
    assert "/vol/grow?collection=$COLLECTION&replication=010" in script
    bucket = production.get("ConfigMap", _config_name(production))["data"].get(
        "GALLERY_S3_BUCKET", "gallery"
    )
    env = _env(grow)
    assert env["COLLECTION"] == bucket  # the S3 gateway stores bucket X in collection X
    assert int(env["MIN_VOLUMES"]) >= 2 * len(WORKER_NODES)
    assert job_spec(grow)["activeDeadlineSeconds"] > 0


def test_fix_replication_runs_periodically_under_the_cluster_lock(production: Build) -> None:
    cron = production.get("CronJob", "seaweedfs-fix-replication")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = containers(cron)
    script = container["args"][0]
    assert "lock\\nvolume.fix.replication -apply\\nunlock" in script
    assert "weed shell -master=" + ",".join(_masters(production)) in script


def test_every_seaweedfs_port_is_open_between_its_pods(production: Build) -> None:
    policy = production.get("NetworkPolicy", "seaweedfs")
    (ingress,) = policy["spec"]["ingress"]
    (egress,) = policy["spec"]["egress"]
    opened = {p["port"] for p in ingress["ports"]}
    assert opened == {p["port"] for p in egress["ports"]}
    for name in ("seaweedfs-master", "seaweedfs-volume", "seaweedfs-filer"):
        service = production.get("Service", name)
        assert {p["port"] for p in service["spec"]["ports"]} <= opened, name
    s3 = production.get("NetworkPolicy", "seaweedfs-s3")
    (rule,) = s3["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [8333]


@pytest.mark.parametrize("overlay", ["dev", "staging"])
def test_dev_and_staging_keep_the_all_in_one_server(
    overlays: dict[str, Build], overlay: str
) -> None:
    build = overlays[overlay]
    assert build.get("StatefulSet", "seaweedfs")["spec"]["replicas"] == 1
    assert not [d for d in build.docs if d["metadata"]["name"].startswith("seaweedfs-master")]
