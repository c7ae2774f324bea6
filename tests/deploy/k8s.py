"""Small helpers over rendered Kubernetes documents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
# Pods that serve until stopped (probed, spread, covered by a PodDisruptionBudget), as opposed
# to the run-to-completion pods of Jobs and CronJobs (bounded by a deadline instead).
SERVING_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    """The pod template of a workload (a CronJob's sits inside its job template)."""
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    template: dict[str, Any] = spec["template"]
    return template


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = pod_template(doc)["spec"]
    return spec


def job_spec(doc: dict[str, Any]) -> dict[str, Any]:
    """The Job spec of a Job or CronJob."""
    spec: dict[str, Any] = (
        doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    )
    return spec


def containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(doc)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (doc for doc in docs if doc["kind"] in WORKLOAD_KINDS)


def go_duration_seconds(text: str) -> float:
    """Seconds of a Go duration string such as ``2m`` or ``1h30m`` (as NACK writes them)."""
    parts = _DURATION.findall(text)
    assert parts, f"not a Go duration: {text!r}"
    assert "".join(n + u for n, u in parts) == text, f"not a Go duration: {text!r}"
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def sync_wave(doc: dict[str, Any]) -> int:
    annotations = doc["metadata"].get("annotations", {})
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def group_of(doc: dict[str, Any]) -> str:
    api_version: str = doc["apiVersion"]
    return api_version.split("/", 1)[0] if "/" in api_version else ""
