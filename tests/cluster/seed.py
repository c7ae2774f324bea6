"""The seed's four machines on this one (scripts/cluster/seed-up.sh), for test_seed_nodes.py.

Node names, roles and addresses come from scripts/cluster/nodes.sh, which reads the node list
Terraform reads. Here: the dynamic volume provisioner production's StorageClass name is served
by, MetalLB with its speakers on the workers, and where the overlay's pods landed.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import yaml

from tests.cluster.kube import Kube
from tests.cluster.platform import module_dir, require_built, upstream
from tests.cluster.tools import ROOT, kustomize_build, script

TOPOLOGY = os.environ.get("GALLERY_CLUSTER_TOPOLOGY", "single")
OVERLAY = ROOT / "deploy" / "kustomize" / "testing" / "production"
NAMESPACE = "gallery"
STORAGE_CLASS = "openebs-hostpath"  # the name production's volumeClaimTemplates use
# MetalLB's pool on the machines' shared bridge (seed-up.sh: 10.251.0.0/24, host .1).
POOL = ("10.251.0.240", "10.251.0.250")


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    address: str
    pod_cidr: str


def nodes() -> list[Node]:
    """The node list as scripts/cluster/nodes.sh prints it (sorted by name)."""
    rows = [line.split() for line in script("nodes.sh").splitlines()]
    return [Node(name, role, address, cidr) for name, role, address, cidr, _ in rows]


def workers() -> list[str]:
    return [node.name for node in nodes() if node.role == "worker"]


def node_state(name: str) -> str:
    """Where a node keeps its own files (its local volumes among them)."""
    return f"/var/lib/gallery-seed/{name}"


def install_local_path_provisioner(kube: Kube) -> None:
    """Rancher's local-path-provisioner v0.0.30 (upstream deploy/ manifest from the module zip)
    serving StorageClass ``openebs-hostpath``: every claim gets a directory on the node its pod
    was scheduled to (WaitForFirstConsumer), under that node's own state directory."""
    require_built("local-path-provisioner")
    script("images.sh", "load", "local-path-provisioner", "busybox", timeout=600)
    image = script("images.sh", "tag", "local-path-provisioner")
    busybox = script("images.sh", "tag", "busybox")
    manifest = module_dir("local-path-provisioner") / "deploy" / "local-path-storage.yaml"
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["image"], container["imagePullPolicy"] = image, "Never"
        elif doc["kind"] == "StorageClass":
            doc["metadata"]["name"] = STORAGE_CLASS
        elif doc["kind"] == "ConfigMap":
            path_map = [
                {"node": n.name, "paths": [f"{node_state(n.name)}/local-path"]} for n in nodes()
            ]
            doc["data"]["config.json"] = json.dumps({"nodePathMap": path_map})
            helper = yaml.safe_load(doc["data"]["helperPod.yaml"])
            helper["spec"]["containers"][0]["image"] = busybox
            helper["spec"]["containers"][0]["imagePullPolicy"] = "Never"
            doc["data"]["helperPod.yaml"] = yaml.safe_dump(helper)
    kube.apply(yaml.safe_dump_all(docs), namespaced=False)
    kube.in_namespace("local-path-storage").rollout("deployment/local-path-provisioner")


def install_metallb(kube: Kube) -> Kube:
    """MetalLB in L2 mode as production runs it: the controller and a speaker on each worker,
    memberlist on (the speakers tell each other within seconds when one dies)."""
    require_built("metallb-controller", "metallb-speaker")
    script("images.sh", "load", "metallb-controller", "metallb-speaker", timeout=600)
    docs = upstream(
        module_dir("metallb-controller") / "config" / "native",
        {
            "quay.io/metallb/controller": script("images.sh", "tag", "metallb-controller"),
            "quay.io/metallb/speaker": script("images.sh", "tag", "metallb-speaker"),
        },
    )
    for doc in docs:
        if doc["kind"] == "DaemonSet" and doc["metadata"]["name"] == "speaker":
            # Speakers on the workers only, as in production (upstream tolerates the
            # control plane's taint).
            doc["spec"]["template"]["spec"]["tolerations"] = []
    kube.apply(yaml.safe_dump_all(docs), namespaced=False)
    metallb = kube.in_namespace("metallb-system")
    metallb.rollout("deployment/controller", timeout=300)
    metallb.rollout("daemonset/speaker", timeout=300)
    return metallb


def metallb_config() -> str:
    """platform/metallb-config with this machine's pool, announced on the nodes' eth0 by the
    workers the power-off test may kill (w3 holds the one catalog member)."""
    docs = [
        d
        for d in yaml.safe_load_all(
            kustomize_build(ROOT / "deploy/kustomize/platform/metallb-config")
        )
        if d
    ]
    announcing = [name for name in workers() if name != "nl-cloud-hf-22-w3"]
    for doc in docs:
        if doc["kind"] == "IPAddressPool":
            doc["spec"]["addresses"] = [f"{POOL[0]}-{POOL[1]}"]
        elif doc["kind"] == "L2Advertisement":
            doc["spec"]["nodeSelectors"] = [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": announcing}
                    ]
                }
            ]
            doc["spec"]["interfaces"] = ["eth0"]
    return yaml.safe_dump_all(docs)


def placement(kube: Kube, selector: str) -> dict[str, list[str]]:
    """Running pods matching ``selector`` by node name."""
    where: dict[str, list[str]] = defaultdict(list)
    for pod in kube.pods(selector):
        if pod["status"].get("phase") == "Running" and "deletionTimestamp" not in pod["metadata"]:
            where[pod["spec"]["nodeName"]].append(pod["metadata"]["name"])
    return dict(where)


def what_runs_where(kube: Kube) -> dict[str, list[str]]:
    """Every running pod of the cluster by node (namespace/name)."""
    where: dict[str, list[str]] = defaultdict(list)
    pods: list[dict[str, Any]] = kube.get("pods", "-A", namespaced=False)["items"]
    for pod in pods:
        if pod["status"].get("phase") == "Running":
            meta = pod["metadata"]
            where[pod["spec"]["nodeName"]].append(f"{meta['namespace']}/{meta['name']}")
    return dict(where)


# Production's SeaweedFS cluster (components/seaweedfs-cluster): the members one per node.
SEAWEED_MASTER = "app.kubernetes.io/name=seaweedfs,app.kubernetes.io/component=master"
SEAWEED_VOLUME = "app.kubernetes.io/name=seaweedfs,app.kubernetes.io/component=volume"
SEAWEED_MASTERS = ",".join(f"seaweedfs-master-{i}.seaweedfs-master:9333" for i in range(3))


def weed_shell(kube: Kube, *commands: str) -> str:
    """``weed shell`` in a master's pod, the commands fed on stdin (with the cluster's lock
    taken around them, as commands that change volumes require)."""
    pod = next(iter(kube.ready_pods(SEAWEED_MASTER)), None)
    assert pod, "no SeaweedFS master Ready"
    script_in = "\n".join(("lock", *commands, "unlock")) + "\n"
    return kube.run(
        "exec", "-i", pod, "--", "weed", "shell", f"-master={SEAWEED_MASTERS}",
        stdin=script_in, timeout=300,
    )  # fmt: skip


@dataclass(frozen=True)
class Copies:
    """What ``volume.list`` says about the objects' copies."""

    objects: int  # files in the volumes (each volume counted once)
    with_two_copies: int  # of those, files whose volume is on two racks (nodes) or more
    volumes: int
    under_replicated: tuple[int, ...]  # volume ids with fewer than two racks


def copies(volume_list: str) -> Copies:
    """Parses ``weed shell`` ``volume.list`` output (racks, then their volumes)."""
    racks: dict[int, set[str]] = defaultdict(set)
    files: dict[int, int] = {}
    rack = ""
    for line in volume_list.splitlines():
        words = line.split()
        if words[:1] == ["Rack"]:
            rack = words[1]
        elif words[:1] == ["volume"] and line.strip().startswith("volume Id:"):
            fields = dict(
                part.strip().split(":", 1) for part in line.strip()[len("volume ") :].split(",")
                if ":" in part
            )  # fmt: skip
            volume_id = int(fields["Id"])
            racks[volume_id].add(rack)
            files[volume_id] = max(files.get(volume_id, 0), int(fields["FileCount"]))
    under = tuple(sorted(v for v, r in racks.items() if len(r) < 2))
    return Copies(
        objects=sum(files.values()),
        with_two_copies=sum(n for v, n in files.items() if v not in under),
        volumes=len(racks),
        under_replicated=under,
    )
