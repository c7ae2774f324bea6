"""The platform controllers the seed names, installed from their own upstream manifests.

Each controller's binaries come from the Go module proxy (scripts/cluster/build-go.sh) and its
manifests from the same module zip (``config/`` kustomizations shipped in the module), so the
versions agree. Only what a registry-less single node forces is changed: images built locally
with ``imagePullPolicy: Never``, and the listeners of host-network pods kept off the machine's
outer interfaces. A controller that did not build makes its tests skip with the build's error.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.kube import Kube
from tests.cluster.tools import ROOT, kustomize_build, script

GO = os.environ.get("GO", "/usr/local/go/bin/go")


def module_dir(program: str) -> Path:
    """The module zip's directory of ``program``'s pinned version (downloaded if needed)."""
    version = script("build-go.sh", "--version", program)
    module = script("build-go.sh", "--module", program)
    out = subprocess.run(
        [GO, "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return Path(json.loads(out)["Dir"])


def require_built(*programs: str) -> None:
    """Skip the calling test when one of ``programs`` did not build, quoting why."""
    for program in programs:
        try:
            script("build-go.sh", "--path", program)
        except subprocess.CalledProcessError:
            log = ROOT / ".tools" / f"build-{program}.log"
            if not log.exists():
                pytest.skip(
                    f"{program} is not built (scripts/cluster/prepare.sh builds it when "
                    "GALLERY_CLUSTER_OPTIONAL names it)"
                )
            reason = " ".join(log.read_text().strip().splitlines()[-3:])
            pytest.skip(f"{program} did not build from the Go module proxy: {reason}")


def upstream(path: Path, images: dict[str, str]) -> list[dict[str, Any]]:
    """``kustomize build path`` with each container image mapped by repository to ``images``."""
    docs = [d for d in yaml.safe_load_all(kustomize_build(path)) if d]
    for doc in docs:
        if doc["kind"] not in ("Deployment", "DaemonSet"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            repository = container["image"].rsplit(":", 1)[0]
            container["image"] = images[repository]
            container["imagePullPolicy"] = "Never"
    return docs


def install_keda(kube: Kube) -> Kube:
    """KEDA's operator and metrics API server (config/minimal: no admission webhooks)."""
    require_built("keda-operator", "keda-adapter")
    script("images.sh", "load", "keda", "keda-adapter", timeout=600)
    docs = upstream(
        module_dir("keda-operator") / "config" / "minimal",
        {
            "ghcr.io/kedacore/keda": script("images.sh", "tag", "keda"),
            "ghcr.io/kedacore/keda-metrics-apiserver": script("images.sh", "tag", "keda-adapter"),
        },
    )
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "keda-operator":
            # The upstream port is named http; Prometheus finds the operator by port name.
            doc["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "metrics"
    kube.apply(yaml.safe_dump_all(docs), namespaced=False)
    keda = kube.in_namespace("keda")
    keda.rollout("deployment/keda-operator", timeout=300)
    keda.rollout("deployment/keda-metrics-apiserver", timeout=300)
    # The external metrics API, served by the adapter through the aggregation layer.
    kube.run(
        "wait",
        "--for=condition=Available",
        "apiservice/v1beta1.external.metrics.k8s.io",
        "--timeout=300s",
        namespaced=False,
        timeout=330,
    )
    return keda


def install_metallb(kube: Kube) -> Kube:
    """MetalLB in L2 mode (config/native) without memberlist and metrics listeners.

    The speaker runs in the host network: memberlist (7946) only matters with several nodes,
    and its metrics port would listen on every host interface, so both are off here.
    """
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
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["args"] = ["--port=0", "--log-level=info"]
            container["env"] = [
                e for e in container["env"] if not e["name"].startswith("METALLB_ML_")
            ]
    kube.apply(yaml.safe_dump_all(docs), namespaced=False)
    metallb = kube.in_namespace("metallb-system")
    metallb.rollout("deployment/controller", timeout=300)
    metallb.rollout("daemonset/speaker", timeout=300)
    return metallb
