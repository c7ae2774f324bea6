"""A Prometheus server in the test cluster, as kube-prometheus-stack would configure it.

The server is built from the Go module proxy (scripts/cluster/build-go.sh prometheus). There is
no Prometheus Operator here, so the scrape config below does by hand what the shipped
ServiceMonitor/PodMonitor (deploy/kustomize/base/monitors.yaml) ask for: the gateway's metrics
Service endpoints as job ``gallery-gateway``, the worker pods' ``metrics`` port as job
``gallery-worker``, and KEDA's operator (``keda_scaler_metrics_value``, for the dashboard). The
rules are the shipped PrometheusRule's groups, unchanged. The Service carries the name
kube-prometheus-stack gives its Prometheus (``SERVICE``), so the ScaledObject's backlog
triggers reach this server at the address they use in production.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.kube import Kube

ROOT = Path(__file__).resolve().parents[2]
RULE = ROOT / "deploy" / "kustomize" / "components" / "monitoring" / "prometheusrule.yaml"
NAMESPACE = "monitoring"
# kube-prometheus-stack's Service for release "kube-prometheus-stack" (deploy/argocd/platform).
SERVICE = "kube-prometheus-stack-prometheus"
INTERVAL = "5s"  # the monitors say 30s; the test wants answers within minutes


def _keep(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"action": "keep", "source_labels": [label], "regex": regex} for label, regex in pairs]


def _common_labels(job: str) -> list[dict[str, Any]]:
    """namespace and pod labels as the operator adds them; the rules aggregate by namespace."""
    return [
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"target_label": "job", "replacement": job},
    ]


def config() -> dict[str, Any]:
    gateway = {
        "job_name": "gallery-gateway",
        "kubernetes_sd_configs": [{"role": "endpoints"}],
        "relabel_configs": [
            *_keep(
                ("__meta_kubernetes_service_label_app_kubernetes_io_component", "gateway-metrics"),
                ("__meta_kubernetes_endpoint_port_name", "metrics"),
            ),
            *_common_labels("gallery-gateway"),
        ],
    }
    worker = {
        "job_name": "gallery-worker",
        "kubernetes_sd_configs": [{"role": "pod"}],
        "relabel_configs": [
            *_keep(
                ("__meta_kubernetes_pod_label_app_kubernetes_io_component", "worker"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ),
            *_common_labels("gallery-worker"),
        ],
    }
    keda = {
        "job_name": "keda-operator",
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": ["keda"]}}],
        "relabel_configs": [
            *_keep(
                ("__meta_kubernetes_pod_label_app", "keda-operator"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ),
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }
    return {
        "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
        "rule_files": ["/etc/prometheus/rules.yaml"],
        "scrape_configs": [gateway, worker, keda],
    }


def rules() -> dict[str, Any]:
    doc = yaml.safe_load(RULE.read_text())
    return {"groups": doc["spec"]["groups"]}


def manifests(image: str) -> list[dict[str, Any]]:
    meta = {"namespace": NAMESPACE}
    labels = {"app": "prometheus"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "prometheus", **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "gallery-test-prometheus"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["pods", "services", "endpoints", "nodes"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "gallery-test-prometheus"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "gallery-test-prometheus",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prometheus", **meta},
            "data": {
                "prometheus.yml": yaml.safe_dump(config()),
                "rules.yaml": yaml.safe_dump(rules()),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVICE, **meta},
            "spec": {
                "selector": labels,
                "ports": [{"name": "web", "port": 9090, "targetPort": "web"}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "prometheus", **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "prometheus",
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534},
                        "containers": [
                            {
                                "name": "prometheus",
                                "image": image,
                                "imagePullPolicy": "Never",
                                "args": [
                                    "--config.file=/etc/prometheus/prometheus.yml",
                                    "--storage.tsdb.path=/prometheus",
                                    "--web.listen-address=:9090",
                                ],
                                "ports": [{"name": "web", "containerPort": 9090}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/-/ready", "port": "web"},
                                    "periodSeconds": 2,
                                },
                                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/etc/prometheus"},
                                    {"name": "data", "mountPath": "/prometheus"},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "config", "configMap": {"name": "prometheus"}},
                            {"name": "data", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
    ]


class PrometheusApi:
    """The HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/) of the pod."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube.in_namespace(NAMESPACE)

    @property
    def url(self) -> str:
        pod = self.kube.pods("app=prometheus")[0]
        return f"http://{pod['status']['podIP']}:9090"

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def alert_state(self, name: str) -> str:
        """``inactive``, ``pending`` or ``firing`` for alert ``name`` (any label set)."""
        states = {
            a["state"]
            for a in self.get("/api/v1/alerts")["alerts"]
            if a["labels"]["alertname"] == name
        }
        for state in ("firing", "pending"):
            if state in states:
                return state
        return "inactive"

    def targets_up(self, job: str) -> int:
        active = self.get("/api/v1/targets", state="active")["activeTargets"]
        return sum(1 for t in active if t["labels"].get("job") == job and t["health"] == "up")
