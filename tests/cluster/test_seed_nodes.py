"""The seed's four machines: nl-cloud-hf-22-1 (control plane, tainted) and the workers w1..w3,
each a kubelet with its own containerd, address and state (scripts/cluster/seed-up.sh), running
production's manifests (testing/production). Only with GALLERY_CLUSTER_TOPOLOGY=seed.

Each test prints one line beginning with its scenario's name (``cluster nodes: ...``), so the
log of the cluster env carries the figures.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest

from tests.cluster.client import Gallery
from tests.cluster.conftest import STATE, Deployed
from tests.cluster.kube import Kube, wait_for
from tests.cluster.seed import (
    POOL,
    SEAWEED_MASTER,
    SEAWEED_VOLUME,
    Copies,
    copies,
    install_metallb,
    metallb_config,
    node_state,
    nodes,
    placement,
    weed_shell,
    what_runs_where,
    workers,
)
from tests.cluster.steady_client import UploadRun
from tests.cluster.tools import script

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

GATEWAY = "app.kubernetes.io/name=gallery,app.kubernetes.io/component=gateway"
WORKER = "app.kubernetes.io/name=gallery,app.kubernetes.io/component=worker"
NATS = "app.kubernetes.io/name=nats"
STATEFUL = ("nats", "seaweedfs-master", "seaweedfs-volume", "gallery-mongo")
CATALOG_NODE = "nl-cloud-hf-22-w3"  # testing/production pins the one catalog member there
Say = Callable[[str], None]  # the scenario fixture: one line to the log
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def role_name(role: str) -> str:
    return "control-plane" if role == "controller" else role


def test_four_nodes_named_as_the_seed_the_control_plane_tainted(
    cluster: Kube, scenario: Say
) -> None:
    listed = nodes()
    found = {n["metadata"]["name"]: n for n in cluster.get("nodes", namespaced=False)["items"]}
    assert set(found) == {node.name for node in listed}
    for node in listed:
        doc = found[node.name]
        ready = {c["type"]: c["status"] for c in doc["status"]["conditions"]}["Ready"]
        assert ready == "True", node.name
        addresses = {a["type"]: a["address"] for a in doc["status"]["addresses"]}
        assert addresses["InternalIP"] == node.address
        taints = [{"key": t["key"], "effect": t["effect"]} for t in doc["spec"].get("taints", [])]
        if node.role == "controller":
            assert CONTROL_PLANE_TAINT in taints
            assert "node-role.kubernetes.io/control-plane" in doc["metadata"]["labels"]
        else:
            assert not [t for t in taints if t["effect"] == "NoSchedule"], (node.name, taints)
    scenario(
        "cluster nodes: "
        + " ".join(f"{node.name}={role_name(node.role)}@{node.address}" for node in listed)
    )


def on_every_worker(kube: Kube, selector: str) -> dict[str, list[str]] | None:
    """The placement of ``selector``'s pods once they run on every worker (else None)."""
    where = placement(kube, selector)
    return where if set(where) == set(workers()) else None


def test_production_places_a_gateway_nats_and_seaweedfs_master_and_volume_per_worker(
    seed: Deployed, scenario: Say
) -> None:
    kube = seed.kube
    # One of each per worker; production's two filers and two S3 gateways are spread too,
    # but there are only two of each.
    for selector in (GATEWAY, NATS, SEAWEED_MASTER, SEAWEED_VOLUME):
        where = wait_for(
            f"{selector} on every worker",
            lambda s=selector: on_every_worker(kube, s),  # type: ignore[misc]
            timeout=300,
            every=3,
        )
        assert all(len(pods) == 1 for pods in where.values()), (selector, where)
    spread = wait_for(
        "render workers on all three workers",
        lambda: on_every_worker(kube, WORKER),
        timeout=300,
        every=3,
    )
    counts = [len(pods) for pods in spread.values()]
    assert max(counts) - min(counts) <= 1, spread  # the overlay's maxSkew
    controller = [n.name for n in nodes() if n.role == "controller"]
    everywhere = what_runs_where(kube)
    assert not [p for n in controller for p in everywhere.get(n, []) if p.startswith("gallery/")]
    gallery_pods = {
        node: sorted(p.split("/", 1)[1] for p in pods if p.startswith("gallery/"))
        for node, pods in sorted(everywhere.items())
    }
    scenario(
        "cluster placement: "
        + " ".join(f"{node}=[{','.join(pods)}]" for node, pods in gallery_pods.items())
    )


@dataclass(frozen=True)
class LoadBalancer:
    ip: str
    announcer: str  # the worker answering ARP for it


def announcer(kube: Kube, after: float = 0.0) -> str | None:
    """The worker MetalLB last assigned the gateway's address to (events newer than ``after``,
    epoch seconds)."""
    events = kube.get("events", "--field-selector=involvedObject.name=gallery-gateway")["items"]
    assigned = [e for e in events if e["reason"] == "nodeAssigned"]
    assigned.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    for event in reversed(assigned):
        stamp = event.get("lastTimestamp") or event.get("eventTime") or ""
        if stamp and datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() < after:
            return None
        return next((n for n in workers() if n in event["message"]), None)
    return None


@pytest.fixture(scope="module")
def load_balancer(seed: Deployed) -> LoadBalancer:
    """MetalLB (speakers on the workers) giving the gateway an address on the shared bridge."""
    kube = seed.kube
    install_metallb(kube)
    wait_for("the pool accepted", lambda: kube.apply(metallb_config(), namespaced=False), 180, 3)

    def ingress_ip() -> str | None:
        ingress = kube.get("service", "gallery-gateway")["status"]["loadBalancer"].get("ingress")
        return ingress[0]["ip"] if ingress else None

    ip = wait_for("an address from gallery-pool", ingress_ip, timeout=180, every=2)
    node = wait_for("a worker announcing it", lambda: announcer(kube), timeout=120, every=2)
    return LoadBalancer(ip, node)


def test_clients_upload_and_download_through_the_metallb_address(
    seed: Deployed, load_balancer: LoadBalancer, scenario: Say
) -> None:
    ip = load_balancer.ip
    first, last = (ipaddress.IPv4Address(a) for a in POOL)
    assert first <= ipaddress.IPv4Address(ip) <= last
    gallery = Gallery(f"http://{ip}", seed.api_key)
    ids = gallery.upload_photos(3, seed=1800)
    gallery.wait_all_ready(ids, timeout=600)
    for image_id in ids:
        body, content_type = gallery.rendition(gallery.image(image_id), "thumb")
        assert body
        assert content_type.startswith("image/")
    # The host is no node: it reached the address over the shared bridge, by ARP.
    neighbour = subprocess.run(
        ["ip", "-j", "neigh", "show", ip], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(neighbour), f"no ARP entry for {ip} on the host"
    scenario(
        f"cluster metallb: address={ip} announced_by={load_balancer.announcer} "
        f"uploads={len(ids)} ready={len(ids)}"
    )


def _listed_images(gallery: Gallery) -> list[str]:
    """Every image id of the tenant, all pages."""
    ids: list[str] = []
    cursor = ""
    while True:
        status, payload, _ = gallery.request("GET", f"/v1/images?limit=100{cursor}")
        assert status == 200, payload[:200]
        page = json.loads(payload)
        ids += [item["id"] for item in page["items"]]
        if not page.get("next_cursor"):
            return ids
        cursor = f"&cursor={page['next_cursor']}"


def test_drain_of_a_worker_is_invisible_to_clients(
    seed: Deployed, load_balancer: LoadBalancer, scenario: Say
) -> None:
    kube = seed.kube
    # Not the catalog's node (w3: one member, nothing to move to) and not the one announcing
    # the address (its ARP moves when its gateway leaves: that is the power-off test's window).
    node = next(n for n in workers() if n not in (load_balancer.announcer, CATALOG_NODE))
    run = UploadRun(f"http://{load_balancer.ip}", seed.api_key, count=60, seed=1900)
    run.start()
    wait_for("the run under way", lambda: len(run.accepted) >= 10, timeout=300, every=1)
    drained_at = time.monotonic()
    try:
        kube.run(
            "drain",
            node,
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=600s",
            namespaced=False,
            timeout=660,
        )
        run.join(timeout=900)
    finally:
        kube.run("uncordon", node, namespaced=False)
        # The drained node's stateful members (local volumes: they wait for it) back before
        # the next scenario takes another node away: NATS and the SeaweedFS masters need two
        # of three.
        wait_for("every stateful member Ready again", lambda: _all_stateful_ready(kube), 600, 5)
    scenario(
        f"cluster drain: node={node} requests={len(run.attempts)} "
        f"failed={len(run.failures())} accepted={len(run.accepted)} "
        f"slowest_s={run.slowest():.1f}"
    )
    if run.failures():  # when, relative to the drain, and what the servers said meanwhile
        for attempt in run.failures():
            print(
                f"failed attempt: photo={attempt.photo} outcome={attempt.outcome} "
                f"from={attempt.started - drained_at:+.1f}s to={attempt.ended - drained_at:+.1f}s"
            )
        print(kube.logs(GATEWAY, tail=60))
        print(kube.logs(NATS, tail=30))
    assert run.failures() == []
    gallery = Gallery(f"http://{load_balancer.ip}", seed.api_key)
    gallery.wait_all_ready(list(run.accepted.values()), timeout=900)


def test_a_worker_powered_off_mid_run_loses_nothing(
    seed: Deployed, load_balancer: LoadBalancer, scenario: Say
) -> None:
    kube = seed.kube
    victim = wait_for("a worker announcing the address", lambda: announcer(kube), 120, 2)
    assert victim != CATALOG_NODE
    kinds = (GATEWAY, WORKER, NATS, SEAWEED_MASTER, SEAWEED_VOLUME)
    held = {sel: placement(kube, sel).get(victim, []) for sel in kinds}
    assert all(held.values()), f"{victim} should hold one of each: {held}"
    gallery = Gallery(f"http://{load_balancer.ip}", seed.api_key)
    listed_before = set(_listed_images(gallery))
    run = UploadRun(f"http://{load_balancer.ip}", seed.api_key, count=150, seed=2000)
    run.start()
    wait_for("a third of the run accepted", lambda: len(run.accepted) >= 50, timeout=600, every=1)
    off_at, off_epoch = time.monotonic(), time.time()
    script("node-power.sh", "off", victim)
    try:
        survivor = wait_for(
            "MetalLB to move the address",
            lambda: (n := announcer(kube, after=off_epoch - 1)) and n != victim and n,
            timeout=300,
            every=1,
        )
        run.join(timeout=1200)
        back = [a for a in run.attempts if a.started > off_at and a.outcome in ("200", "202")]
        failover_s = min(a.ended for a in back) - off_at if back else float("inf")
        ids = list(run.accepted.values())
        mine = set(ids)
        gallery.wait_all_ready(ids, timeout=1200)
        new = set(_listed_images(gallery)) - listed_before
        lost = len(mine - new)  # accepted, yet not in the catalog
        duplicated = len(new - mine)  # one photo stored twice (a retry not recognised)
        scenario(
            f"cluster power-off: node={victim} tried={run.tried()} accepted={len(run.accepted)} "
            f"retried={run.retried()} ready={len(ids)} lost={lost} "
            f"duplicated={duplicated} failover_s={failover_s:.1f} new_announcer={survivor}"
        )
        assert run.unexpected() == []
        assert [a for a in run.failures() if a.started < off_at] == []
        assert len(run.accepted) == run.count
        assert lost == 0
        assert duplicated == 0
        for image_id in ids[:: max(1, len(ids) // 10)]:
            body, _ = gallery.rendition(gallery.image(image_id), "thumb")
            assert body
        # Render capacity back on the two survivors (the spread ignores the tainted dead node).
        wait_for(
            "three render workers Ready on the survivors",
            lambda: sum(len(p) for n, p in placement(kube, WORKER).items() if n != victim) >= 3,
            timeout=600,
            every=5,
        )
    finally:
        script("node-power.sh", "on", victim, str(STATE), timeout=900)
    for selector in (GATEWAY, NATS, SEAWEED_MASTER, SEAWEED_VOLUME):
        wait_for(
            f"{selector} back on {victim}",
            lambda s=selector: victim in kube_ready_on(kube, s),
            timeout=600,
            every=5,
        )
    # The volumes that lost their copy on the victim get it back; then every object has two
    # copies on two nodes again.
    fixed = weed_shell(kube, "volume.fix.replication -apply")
    after = wait_for("every volume on two nodes", lambda: _replicated(kube), 300, every=10)
    scenario(
        f"cluster re-replication: objects={after.objects} "
        f"with_two_copies={after.with_two_copies} volumes={after.volumes} node={victim}"
    )
    assert after.objects > 0, fixed
    assert after.with_two_copies == after.objects


def _all_stateful_ready(kube: Kube) -> bool:
    sets = kube.get("statefulsets")["items"]
    return all(s["status"].get("readyReplicas", 0) == s["spec"]["replicas"] for s in sets)


def _replicated(kube: Kube) -> Copies | None:
    """The copies once no volume is under-replicated, else None."""
    found = copies(weed_shell(kube, "volume.list"))
    return found if not found.under_replicated else None


def kube_ready_on(kube: Kube, selector: str) -> set[str]:
    """The nodes where a Ready pod matching ``selector`` runs."""
    ready = set(kube.ready_pods(selector))
    return {node for node, pods in placement(kube, selector).items() if ready.intersection(pods)}


def _claims_by_pod(kube: Kube) -> dict[str, tuple[str, str, str]]:
    """pod -> (its node, the PV bound to its first claim, the PV's node)."""
    out: dict[str, tuple[str, str, str]] = {}
    for pod in kube.get("pods")["items"]:
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["spec"].get("volumes", [])
            if "persistentVolumeClaim" in v
        ]
        if not claims or pod["status"].get("phase") != "Running":
            continue
        pvc = kube.get("pvc", claims[0])
        volume = pvc["spec"]["volumeName"]
        pv = kube.get("pv", volume, namespaced=False)
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        (pv_node,) = terms[0]["matchExpressions"][0]["values"]
        path = pv["spec"].get("hostPath", pv["spec"].get("local", {})).get("path", "")
        assert path.startswith(node_state(pv_node)), (volume, path)
        out[pod["metadata"]["name"]] = (pod["spec"]["nodeName"], volume, pv_node)
    return out


# Last: it restarts every stateful pod at once, and the drain and power-off runs should see
# only their own disturbance.
def test_volumes_are_provisioned_on_their_pods_node_and_keep_the_data_over_restarts(
    seed: Deployed, load_balancer: LoadBalancer, scenario: Say
) -> None:
    kube = seed.kube
    before = _claims_by_pod(kube)
    assert {p.rsplit("-", 1)[0] for p in before} >= set(STATEFUL), before
    for pod, (node, volume, pv_node) in before.items():
        assert node == pv_node, (pod, volume)

    gallery = Gallery(f"http://{load_balancer.ip}", seed.api_key)
    ids = gallery.upload_photos(3, seed=1700)
    gallery.wait_all_ready(ids, timeout=600)
    # Every pod of the StatefulSets (they carry this label), at once, gracefully.
    selector = "statefulset.kubernetes.io/pod-name"
    old_uids = {p["metadata"]["uid"] for p in kube.pods(selector)}
    kube.run("delete", "pod", "-l", selector, "--wait=false")

    def all_replaced() -> bool:
        pods = kube.pods(selector)
        fresh = [p for p in pods if p["metadata"]["uid"] not in old_uids]
        return len(fresh) == len(old_uids) and len(kube.ready_pods(selector)) == len(old_uids)

    wait_for("every stateful pod replaced and Ready", all_replaced, timeout=600, every=3)
    after = _claims_by_pod(kube)
    assert {p: v for p, (_, v, _) in after.items()} == {p: v for p, (_, v, _) in before.items()}
    for image_id in ids:
        doc = wait_for(f"{image_id} readable again", lambda i=image_id: gallery.image(i), 300, 3)
        assert doc["status"] == "ready"
        body, content_type = gallery.rendition(doc, "thumb")
        assert body
        assert content_type.startswith("image/")
    # The pipeline carries on: new photos through the address are accepted (retrying as a
    # client does) and ready. The first ones after the restart may stall on connections the
    # gateways still hold to the old pods: measured and printed, not hidden.
    run = UploadRun(f"http://{load_balancer.ip}", seed.api_key, count=6, seed=1750)
    run.start()
    run.join(timeout=900)
    assert run.unexpected() == []
    assert len(run.accepted) == run.count
    gallery.wait_all_ready(list(run.accepted.values()), timeout=600)
    scenario(
        f"cluster volumes: claims={len(before)} restarted={len(after)} "
        f"same_volume={sum(after[p][1] == before[p][1] for p in before)} "
        f"images_readable={len(ids)} after_restart_uploads={run.count} "
        f"failed_then_retried={len(run.failures())} slowest_s={run.slowest():.1f}"
    )
