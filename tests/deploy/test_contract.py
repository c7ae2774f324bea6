"""The manifests agree with what the code defines: settings, stream names, metric names."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from pipeline.adapters.bus import consumer_configs, stream_configs
from pipeline.domain import names
from pipeline.domain.roles import ROLES, Credential, catalog_role, nats_authorization
from pipeline.jobs.manifests import CONSUMERS_FILE, consumers_yaml
from pipeline.jobs.registry import job_lanes
from pipeline.runtime import metrics
from pipeline.runtime.settings import ENV_PREFIX, Settings, env_names, load_settings
from tests.deploy.conftest import OVERLAYS, ROOT, Build
from tests.deploy.k8s import go_duration_seconds, pod_spec, sync_wave

pytestmark = pytest.mark.deploy

GALLERY_DEPLOYMENTS = ("gallery-gateway", "gallery-worker")
# What every process must be told in the cluster (the defaults point at localhost).
REQUIRED_IN_CLUSTER = {
    "GALLERY_NATS_URL",
    "GALLERY_MONGO_URI",
    "GALLERY_STORAGE_BACKEND",
    "GALLERY_S3_ENDPOINT",
    "GALLERY_S3_BUCKET",
    "GALLERY_S3_ACCESS_KEY_ID",
    "GALLERY_S3_SECRET_ACCESS_KEY",
}
FROM_SECRET = {
    "GALLERY_MONGO_URI",
    "GALLERY_S3_ACCESS_KEY_ID",
    "GALLERY_S3_SECRET_ACCESS_KEY",
    "GALLERY_NATS_USER",
    "GALLERY_NATS_PASSWORD",
}
# Only the gateway serves the admin API (on its ops listener).
GATEWAY_ONLY_SECRETS = {"GALLERY_GATEWAY_ADMIN_KEY"}
ROLE_OF = {"gallery-gateway": "gateway", "gallery-worker": "worker"}
SECRET_PLACEHOLDER = "from-a-secret"


def container_env(
    build: Build, deployment: str
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(plain values from the ConfigMap and `value`, secretKeyRefs) of a gallery container."""
    (container,) = pod_spec(build.get("Deployment", deployment))["containers"]
    plain: dict[str, str] = {}
    secret: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        config_map = build.get("ConfigMap", source["configMapRef"]["name"])
        plain.update(config_map["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            plain[entry["name"]] = entry["value"]
        else:
            secret[entry["name"]] = entry["valueFrom"]["secretKeyRef"]
    return plain, secret


def overlay_settings(build: Build, deployment: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the process would build from the overlay's environment."""
    plain, secret = container_env(build, deployment)
    with monkeypatch.context() as patch:
        import os

        for key in [k for k in os.environ if k.upper().startswith(ENV_PREFIX)]:
            patch.delenv(key)
        for key, value in plain.items():
            patch.setenv(key, value)
        for key in secret:
            patch.setenv(key, SECRET_PLACEHOLDER)
        return load_settings()


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("deployment", GALLERY_DEPLOYMENTS)
def test_env_is_exactly_the_settings_model(
    overlays: dict[str, Build], overlay: str, deployment: str
) -> None:
    plain, secret = container_env(overlays[overlay], deployment)
    known = set(env_names())
    assert set(plain) | set(secret) <= known, "unknown settings"
    if deployment != "gallery-gateway":
        known -= GATEWAY_ONLY_SECRETS  # the worker is not given the admin key
    assert known <= set(plain) | set(secret), (
        f"settings not set: {known - set(plain) - set(secret)}"
    )
    assert set(plain).isdisjoint(secret)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("deployment", GALLERY_DEPLOYMENTS)
def test_required_settings_are_set_and_secrets_come_from_secrets(
    overlays: dict[str, Build], overlay: str, deployment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, secret = container_env(overlays[overlay], deployment)
    expected = FROM_SECRET | (GATEWAY_ONLY_SECRETS if deployment == "gallery-gateway" else set())
    assert set(secret) == expected
    assert set(plain) | set(secret) >= REQUIRED_IN_CLUSTER
    for key in REQUIRED_IN_CLUSTER - FROM_SECRET:
        assert plain[key], key
    settings = overlay_settings(overlays[overlay], deployment, monkeypatch)
    assert settings.storage.backend == "s3"
    assert "127.0.0.1" not in settings.nats.url
    assert "127.0.0.1" not in settings.s3.endpoint
    expected_replicas = 3 if overlay == "production" else 1
    assert settings.nats.stream_replicas == expected_replicas


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_addresses_in_settings_name_services_that_exist(
    overlays: dict[str, Build], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = overlays[overlay]
    settings = overlay_settings(build, "gallery-worker", monkeypatch)
    services = {s["metadata"]["name"]: s for s in build.of_kind("Service")}
    for url in [*settings.nats.url.split(","), settings.s3.endpoint]:
        match = re.fullmatch(r"\w+://([\w.-]+):(\d+)", url.strip())
        assert match, url
        host, port = match.group(1), int(match.group(2))
        assert host.split(".")[0] in services, url
        assert port in [p["port"] for p in services[host.split(".")[0]]["spec"]["ports"]], url


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ports_probes_and_grace_follow_the_settings(
    overlays: dict[str, Build], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = overlays[overlay]
    for deployment in GALLERY_DEPLOYMENTS:
        settings = overlay_settings(build, deployment, monkeypatch)
        pod = pod_spec(build.get("Deployment", deployment))
        (container,) = pod["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == settings.metrics.port
        if deployment == "gallery-gateway":
            assert ports["http"] == settings.gateway.port
            stop = settings.gateway.shutdown_timeout_seconds
            stop += container["lifecycle"]["preStop"]["sleep"]["seconds"]
        else:
            assert set(ports) == {"metrics"}
            stop = settings.worker.drain_timeout_seconds
        assert pod["terminationGracePeriodSeconds"] > stop + 5
        probe_paths = {
            kind: container[kind]["httpGet"]["path"]
            for kind in ("livenessProbe", "readinessProbe", "startupProbe")
        }
        assert probe_paths == {
            "livenessProbe": "/healthz",
            "readinessProbe": "/readyz",
            "startupProbe": "/healthz",
        }
        for kind in probe_paths:
            assert container[kind]["httpGet"]["port"] in ports
        volume_mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in volume_mounts


def nack_spec(build: Build, kind: str, field: str, value: str) -> dict[str, Any]:
    (doc,) = [d for d in build.of_kind(kind) if d["spec"][field] == value]
    spec: dict[str, Any] = doc["spec"]
    return spec


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nack_streams_equal_the_code(
    overlays: dict[str, Build], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = overlays[overlay]
    settings = overlay_settings(build, "gallery-worker", monkeypatch)
    expected = stream_configs(settings.nats, settings.jobs)
    assert {s["spec"]["name"] for s in build.of_kind("Stream")} == {c.name for c in expected}
    assert {c.name for c in expected} == {
        names.RENDER_STREAM,
        names.JOBS_STREAM,
        names.EVENTS_STREAM,
        names.DLQ_STREAM,
    }
    for config in expected:
        spec = nack_spec(build, "Stream", "name", str(config.name))
        assert spec["subjects"] == config.subjects
        assert spec["retention"] == config.retention.value  # type: ignore[union-attr]
        assert spec["storage"] == config.storage.value  # type: ignore[union-attr]
        assert spec["replicas"] == config.num_replicas
        assert go_duration_seconds(spec.get("maxAge", "0s")) == (config.max_age or 0)
        if config.duplicate_window:
            assert go_duration_seconds(spec["duplicateWindow"]) == config.duplicate_window
        assert spec["discard"] == config.discard.value  # type: ignore[union-attr]
        assert spec.get("maxMsgsPerSubject", -1) == config.max_msgs_per_subject
        assert spec.get("discardPerSubject", False) == config.discard_new_per_subject
    jobs = nack_spec(build, "Stream", "name", names.JOBS_STREAM)
    assert jobs["subjects"] == [names.BACKFILL_SUBJECT, names.CLEANUP_SUBJECT]
    render = nack_spec(build, "Stream", "name", names.RENDER_STREAM)
    assert render["subjects"] == [names.RENDER_SUBJECTS, names.VIDEO_SUBJECTS]
    assert render["maxMsgsPerSubject"] == settings.jobs.tenant_queued, "the fairness cap"
    assert nack_spec(build, "Stream", "name", names.DLQ_STREAM)["subjects"] == [names.DLQ_SUBJECT]
    assert nack_spec(build, "Stream", "name", names.EVENTS_STREAM)["subjects"] == list(
        names.EVENTS_SUBJECTS
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nack_consumers_equal_the_code(
    overlays: dict[str, Build], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = overlays[overlay]
    lanes = job_lanes(overlay_settings(build, "gallery-worker", monkeypatch))
    expected = consumer_configs(lanes)
    streams = {lane.consumer: lane.stream for lane in lanes}
    assert {c["spec"]["durableName"] for c in build.of_kind("Consumer")} == {
        c.durable_name for c in expected
    }
    for config in expected:
        spec = nack_spec(build, "Consumer", "durableName", str(config.durable_name))
        assert spec["streamName"] == streams[str(config.durable_name)]
        assert spec["filterSubject"] == config.filter_subject
        assert spec["ackPolicy"] == config.ack_policy.value  # type: ignore[union-attr]
        assert spec["deliverPolicy"] == config.deliver_policy.value  # type: ignore[union-attr]
        assert go_duration_seconds(spec["ackWait"]) == config.ack_wait
        assert spec["maxDeliver"] == config.max_deliver
        assert spec["maxAckPending"] == config.max_ack_pending
        assert "deliverSubject" not in spec, "pull consumers only"
    render = nack_spec(build, "Consumer", "durableName", names.RENDER_CONSUMER)
    backfill = nack_spec(build, "Consumer", "durableName", names.BACKFILL_CONSUMER)
    assert backfill["maxAckPending"] < render["maxAckPending"]
    cleanup = nack_spec(build, "Consumer", "durableName", names.CLEANUP_CONSUMER)
    assert cleanup["filterSubject"] == names.CLEANUP_SUBJECT
    assert cleanup["maxDeliver"] == -1, "a cleanup job is retried until the store answers"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nack_and_keda_reach_this_namespaces_nats(overlays: dict[str, Build], overlay: str) -> None:
    build = overlays[overlay]
    namespace = build.get("Service", "nats")["metadata"]["namespace"]
    for doc in build.of_kind("Stream") + build.of_kind("Consumer"):
        assert doc["spec"]["servers"] == [f"nats://nats.{namespace}.svc.cluster.local:4222"]
    triggers = build.get("ScaledObject", "gallery-worker")["spec"]["triggers"]
    headless = build.get("Service", "nats-headless")
    assert headless["spec"]["clusterIP"] == "None"
    monitor = {p["name"]: p["port"] for p in headless["spec"]["ports"]}["monitor"]
    lags = [t for t in triggers if t["type"] == "nats-jetstream"]
    assert len(lags) == 2, "render and video lag"
    for trigger in lags:
        assert trigger["metadata"]["natsServerMonitoringEndpoint"] == (
            f"nats-headless.{namespace}.svc.cluster.local:{monitor}"
        )
    # The backlog triggers read this namespace's series, never another overlay's.
    backlogs = [t for t in triggers if t["type"] == "prometheus"]
    assert len(backlogs) == 2, "render and video backlog"
    for trigger in backlogs:
        assert f'namespace="{namespace}"' in trigger["metadata"]["query"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_scales_on_the_render_consumer_after_it_exists(
    overlays: dict[str, Build], overlay: str
) -> None:
    build = overlays[overlay]
    scaled = build.get("ScaledObject", "gallery-worker")
    triggers = {t["name"]: t for t in scaled["spec"]["triggers"]}
    assert set(triggers) == {"render-lag", "video-lag", "render-backlog", "video-backlog"}
    for name, lane in (("render-lag", names.RENDER_CONSUMER), ("video-lag", names.VIDEO_CONSUMER)):
        trigger = triggers[name]
        assert trigger["type"] == "nats-jetstream"
        assert set(trigger["metadata"]) <= {
            "natsServerMonitoringEndpoint",
            "account",
            "stream",
            "consumer",
            "lagThreshold",
            "activationLagThreshold",
            "useHttps",
        }
        assert trigger["metadata"]["stream"] == names.RENDER_STREAM
        assert trigger["metadata"]["consumer"] == lane
    _backlog_triggers_read_the_gauge(triggers)
    consumers = [
        c
        for c in build.of_kind("Consumer")
        if c["spec"]["durableName"] in (names.RENDER_CONSUMER, names.VIDEO_CONSUMER)
    ]
    assert len(consumers) == 2
    consumer = max(consumers, key=sync_wave)
    (stream,) = [s for s in build.of_kind("Stream") if s["spec"]["name"] == names.RENDER_STREAM]
    nats = build.get("StatefulSet", "nats")
    assert sync_wave(nats) < sync_wave(stream) < sync_wave(consumer) < sync_wave(scaled)
    for deployment in GALLERY_DEPLOYMENTS:
        assert sync_wave(build.get("Deployment", deployment)) >= sync_wave(consumer)


def prometheus_service_address() -> str:
    """kube-prometheus-stack's Prometheus Service, by the release deploy/argocd installs."""
    app = yaml.safe_load((ROOT / "deploy/argocd/platform/kube-prometheus-stack.yaml").read_text())
    release = app["spec"]["source"]["helm"]["releaseName"]
    namespace = app["spec"]["destination"]["namespace"]
    return f"http://{release}-prometheus.{namespace}.svc.cluster.local:9090"


def _backlog_triggers_read_the_gauge(triggers: dict[str, dict[str, Any]]) -> None:
    """Each lane's backlog trigger reads gallery_render_backlog of that lane with max (every
    gateway replica exports the same count), at its lag trigger's target per replica."""
    for lane in (names.RENDER_CONSUMER, names.VIDEO_CONSUMER):
        trigger = triggers[f"{lane}-backlog"]
        assert trigger["type"] == "prometheus"
        meta = trigger["metadata"]
        assert meta["serverAddress"] == prometheus_service_address()
        assert re.fullmatch(
            rf'max\(gallery_render_backlog\{{namespace="[a-z-]+",lane="{lane}"\}}\)',
            meta["query"],
        ), meta["query"]
        assert meta["threshold"] == triggers[f"{lane}-lag"]["metadata"]["lagThreshold"]
        assert meta.get("ignoreNullValues", "true") == "true", "no gateway scraped yet: 0"


# ---- metric names in the alert rules and the dashboard

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Not exported by the code, allowed on purpose: scrape health, kube-state-metrics' HPA,
# Deployment and node-condition series, and KEDA's own view of the render consumer's lag.
EXTERNAL_METRICS = {
    "up",
    "kube_deployment_status_replicas",
    "kube_horizontalpodautoscaler_status_current_replicas",
    "kube_horizontalpodautoscaler_spec_max_replicas",
    "kube_node_status_condition",
    "keda_scaler_metrics_value",
}
PROMQL_WORDS = {
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "rate",
    "irate",
    "increase",
    "deriv",
    "delta",
    "histogram_quantile",
    "label_values",
    "clamp_min",
    "clamp_max",
    "abs",
    "topk",
    "bottomk",
    "quantile",
    "absent",
    "vector",
    "scalar",
    "time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "sum_over_time",
    "inf",
    "nan",
}
EXPORTED = set(metrics.EXPORTED)
ALLOWED = (
    EXPORTED
    | {name + suffix for name in EXPORTED for suffix in HISTOGRAM_SUFFIXES}
    | EXTERNAL_METRICS
)


def metric_names(expr: str, recorded: set[str]) -> set[str]:
    """Metric names in a PromQL expression (label matchers, strings and groupings removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"label_values\(([^,)]*),[^)]*\)", r"\1", text)  # Grafana: (metric, label)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {
        w for w in words if w not in PROMQL_WORDS and w not in recorded and not w.startswith("$")
    }


def rule_groups(build: Build) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = build.get("PrometheusRule", "gallery")["spec"]["groups"]
    return groups


def test_alert_rules_use_only_exported_metrics(overlays: dict[str, Build]) -> None:
    rules = [rule for group in rule_groups(overlays["production"]) for rule in group["rules"]]
    recorded = {rule["record"] for rule in rules if "record" in rule}
    used: set[str] = set()
    for rule in rules:
        used |= metric_names(rule["expr"], recorded)
    assert used <= ALLOWED, f"not exported: {used - ALLOWED}"
    assert {"gallery_dead_letters_total", "gallery_upload_to_ready_seconds_bucket"} <= used
    alerts = {rule["alert"] for rule in rules if "alert" in rule}
    assert {
        "GalleryRenderBacklogGrowing",
        "GalleryDeadLetters",
        "GalleryRenderErrorRatioHigh",
        "GalleryUploadToReadySLOBreach",
    } <= alerts


def test_dashboard_uses_only_exported_metrics(overlays: dict[str, Build]) -> None:
    config_map = overlays["production"].get("ConfigMap", "gallery-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (content,) = config_map["data"].values()
    dashboard = json.loads(content)
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = set().union(*(metric_names(e, set()) for e in exprs))
    assert used <= ALLOWED, f"not exported: {used - ALLOWED}"
    # Every metric the code exports is on the dashboard.
    base = {next((u.removesuffix(s) for s in HISTOGRAM_SUFFIXES if u.endswith(s)), u) for u in used}
    assert base >= EXPORTED


def test_metric_name_extraction() -> None:
    expr = 'sum by (le) (rate(foo_bucket{le="60.0", a=~"x|y"}[5m])) / on(ns) bar_total > 0.5'
    assert metric_names(expr, set()) == {"foo_bucket", "bar_total"}
    assert metric_names("label_values(baz_total, namespace)", set()) == {"baz_total"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_monitors_scrape_the_metrics_port(overlays: dict[str, Build], overlay: str) -> None:
    build = overlays[overlay]
    service_monitor = build.get("ServiceMonitor", "gallery-gateway")
    service = build.get("Service", "gallery-gateway-metrics")
    selected = service_monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    (endpoint,) = service_monitor["spec"]["endpoints"]
    assert endpoint["port"] in [p["name"] for p in service["spec"]["ports"]]
    assert endpoint["path"] == "/metrics"
    pod_monitor = build.get("PodMonitor", "gallery-worker")
    (endpoint,) = pod_monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    public = build.get("Service", "gallery-gateway")
    assert "metrics" not in [p["name"] for p in public["spec"]["ports"]], "metrics stay internal"


def test_consumer_manifests_are_the_registry_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    """consumers.yaml is `make manifests`' output for the base ConfigMap: one source."""
    for line in (ROOT / "deploy/kustomize/base/gallery.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    expected = consumers_yaml(job_lanes(Settings()))
    assert (ROOT / CONSUMERS_FILE).read_text() == expected, "run `make manifests`"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("deployment", GALLERY_DEPLOYMENTS)
def test_each_deployment_reads_only_its_own_roles_secrets(
    overlays: dict[str, Build], overlay: str, deployment: str
) -> None:
    role = ROLE_OF[deployment]
    _, secret = container_env(overlays[overlay], deployment)
    own = {f"gallery-{role}-credentials", f"gallery-{role}-mongo-uri"}
    names_read = {ref["name"] for key, ref in secret.items() if key not in GATEWAY_ONLY_SECRETS}
    assert names_read == own
    pod = pod_spec(overlays[overlay].get("Deployment", deployment))
    mounted = {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
    # Files: only the gateway's own serving certificate (components/tls).
    assert mounted <= ({"gallery-gateway-tls"} if role == "gateway" else set())


def test_production_serves_https_only_with_a_certificate_from_cert_manager(
    overlays: dict[str, Build], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18 item 9: the gateway's certificate comes from cert-manager (the gallery's CA
    Issuer), names the public URL's host, is mounted where the TLS settings read it, and
    the LoadBalancer listens on 443 only; the probes speak HTTPS."""
    build = overlays["production"]
    settings = overlay_settings(build, "gallery-gateway", monkeypatch)
    assert settings.gateway.public_url.startswith("https://")
    host = settings.gateway.public_url.removeprefix("https://").split("/")[0]
    certificate = build.get("Certificate", "gallery-gateway-tls")["spec"]
    assert certificate["dnsNames"] == [host]
    assert certificate["issuerRef"] == {
        "name": "gallery-ca",
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    assert (
        build.get("Issuer", "gallery-ca")["spec"]["ca"]["secretName"]
        == (build.get("Certificate", "gallery-ca")["spec"]["secretName"])
    )
    pod = pod_spec(build.get("Deployment", "gallery-gateway"))
    (container,) = pod["containers"]
    (volume,) = [v for v in pod["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == certificate["secretName"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    cert_file, key_file = settings.gateway.tls_cert_file, settings.gateway.tls_key_file
    assert str(cert_file) == f"{mount['mountPath']}/tls.crt"
    assert str(key_file) == f"{mount['mountPath']}/tls.key"
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["scheme"] == "HTTPS"
    service = build.get("Service", "gallery-gateway")["spec"]
    assert service["type"] == "LoadBalancer"
    assert [(p["port"], p["targetPort"]) for p in service["ports"]] == [(443, "http")]


def test_cert_manager_is_a_platform_app_of_the_pinned_release() -> None:
    app = yaml.safe_load((ROOT / "deploy/argocd/platform/cert-manager.yaml").read_text())
    assert app["spec"]["source"]["chart"] == "cert-manager"
    assert app["spec"]["source"]["targetRevision"].startswith("v1.21.")
    assert app["spec"]["source"]["helm"]["valuesObject"]["crds"]["enabled"] is True


def test_nats_users_are_the_roles_grants() -> None:
    """components/nats/auth.conf is what pipeline.domain.roles renders (regenerate it so)."""
    credentials = {r: Credential(f"gallery-{r}", f"${r.upper()}_NATS_PASSWORD") for r in ROLES}
    text = (ROOT / "deploy/kustomize/components/nats/auth.conf").read_text()
    body = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    assert body == nats_authorization(credentials, declarer=True)


@pytest.mark.parametrize("overlay", ["production"])
def test_nats_reads_every_roles_password_and_includes_the_users(
    overlays: dict[str, Build], overlay: str
) -> None:
    build = overlays[overlay]
    (config,) = [
        c["data"] for c in build.of_kind("ConfigMap") if c["metadata"]["name"].startswith("nats-")
    ]
    assert "include ./auth.conf" in config["nats.conf"]
    assert "authorization" in config["auth.conf"]
    (container,) = pod_spec(build.get("StatefulSet", "nats"))["containers"]
    passwords = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if e["name"].endswith("_NATS_PASSWORD")
    }
    assert passwords == {
        f"{r.upper()}_NATS_PASSWORD": {"name": f"gallery-{r}-credentials", "key": "nats-password"}
        for r in ROLES
    }


@pytest.mark.parametrize("overlay", ["production"])
def test_catalog_users_are_the_roles_grants(overlays: dict[str, Build], overlay: str) -> None:
    mongo = overlays[overlay].get("MongoDBCommunity", "gallery-mongo")["spec"]
    roles = {r["role"]: r for r in mongo["security"]["roles"]}
    for role in ROLES:
        made = catalog_role(role, "gallery")
        assert roles[f"gallery-{role}"]["privileges"] == made["privileges"]
    worker = roles["gallery-worker"]["privileges"]
    assert not [p for p in worker if p["resource"]["collection"] == "api_keys"]
    users = {u["name"]: u for u in mongo["users"]}
    for role in ROLES:
        assert users[f"gallery-{role}"]["roles"] == [{"name": f"gallery-{role}", "db": "gallery"}]
        assert users[f"gallery-{role}"]["connectionStringSecretName"] == (
            f"gallery-{role}-mongo-uri"
        )
