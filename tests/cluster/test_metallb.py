"""MetalLB gives the gateway's LoadBalancer Service an address from gallery-pool, the speaker
announces it (layer 2, on the node's local bridge) and the gateway answers on it."""

from __future__ import annotations

import ipaddress
import urllib.request

import pytest

from tests.cluster.conftest import Deployed
from tests.cluster.kube import wait_for
from tests.cluster.platform import install_metallb
from tests.cluster.tools import ROOT, kustomize_build

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

POOL = ROOT / "deploy" / "kustomize" / "testing" / "metallb-config"
FIRST, LAST = ipaddress.ip_address("10.250.0.240"), ipaddress.ip_address("10.250.0.250")


def test_gateway_gets_a_pool_address_announced_by_the_speaker_and_answers_on_it(
    deployed: Deployed,
) -> None:
    kube = deployed.kube
    metallb = install_metallb(kube)
    # The pool goes through MetalLB's validating webhook, which needs the controller's certs.
    wait_for(
        "the pool accepted",
        lambda: kube.apply(kustomize_build(POOL), namespaced=False),
        180,
        every=3,
    )

    def ingress_ip() -> str | None:
        ingress = kube.get("service", "gallery-gateway")["status"]["loadBalancer"].get("ingress")
        return ingress[0]["ip"] if ingress else None

    ip = wait_for("an address from gallery-pool", ingress_ip, timeout=180, every=2)
    assert FIRST <= ipaddress.ip_address(ip) <= LAST

    def announced() -> bool:
        events = kube.get("events", "--field-selector=involvedObject.name=gallery-gateway")
        return any(
            e["reason"] == "nodeAssigned" and "gallery-node" in e["message"]
            for e in events["items"]
        )

    assert wait_for("the speaker to announce it", announced, timeout=120, every=2)
    assert metallb.ready_pods("app=metallb,component=speaker")

    def healthz() -> bool:
        with urllib.request.urlopen(f"http://{ip}/healthz", timeout=5) as response:
            return bool(response.status == 200)

    assert wait_for(f"the gateway on {ip}", healthz, timeout=120, every=2)
    print(f"\nMetalLB: gallery-gateway at {ip} (layer 2 on k8snode0)")
