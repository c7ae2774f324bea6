"""deploy/argocd: projects, the ApplicationSet over the overlays, the platform apps."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.conftest import KUSTOMIZE_DIR, OVERLAYS, ROOT, Build
from tests.deploy.k8s import sync_wave

pytestmark = pytest.mark.deploy

PLATFORM_CHARTS = {
    "openebs": "localpv-provisioner",
    "metallb": "metallb",
    "keda": "keda",
    "nats": "nack",
    "kube-prometheus-stack": "kube-prometheus-stack",
    "mongodb-operator": "mongodb-kubernetes",
}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def applications(build: Build) -> dict[str, dict[str, Any]]:
    return {app["metadata"]["name"]: app for app in build.of_kind("Application")}


def assert_sync_policy(spec: dict[str, Any], where: str) -> None:
    policy = spec["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}, where
    assert policy["retry"]["limit"] > 0, where
    assert policy["retry"]["backoff"]["maxDuration"], where


def test_everything_lives_in_the_argocd_namespace(builds: dict[str, Build]) -> None:
    for doc in builds["argocd"].docs:
        assert doc["metadata"]["namespace"] == "argocd"


def test_platform_charts_are_pinned_and_self_healing(builds: dict[str, Build]) -> None:
    apps = applications(builds["argocd"])
    for name, chart in PLATFORM_CHARTS.items():
        spec = apps[name]["spec"]
        assert spec["project"] == "platform"
        assert spec["source"]["chart"] == chart
        assert SEMVER.match(spec["source"]["targetRevision"]), f"{name}: chart not pinned"
        assert_sync_policy(spec, name)


def test_git_sources_exist_in_this_repository(builds: dict[str, Build]) -> None:
    for app in builds["argocd"].of_kind("Application"):
        source = app["spec"]["source"]
        if "path" in source:
            assert (ROOT / source["path"] / "kustomization.yaml").is_file(), source["path"]


def test_applicationset_covers_every_overlay(builds: dict[str, Build]) -> None:
    (appset,) = builds["argocd"].of_kind("ApplicationSet")
    (generator,) = appset["spec"]["generators"]
    elements = generator["list"]["elements"]
    assert sorted(e["overlay"] for e in elements) == sorted(OVERLAYS)
    on_disk = sorted(p.name for p in (KUSTOMIZE_DIR / "overlays").iterdir() if p.is_dir())
    assert on_disk == sorted(OVERLAYS)
    spec = appset["spec"]["template"]["spec"]
    assert spec["source"]["path"] == "deploy/kustomize/overlays/{{.overlay}}"
    assert spec["destination"]["namespace"] == "{{.namespace}}"
    assert_sync_policy(spec, "gallery ApplicationSet")
    assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]
    ignored = {(d["kind"], d["name"], tuple(d["jsonPointers"])) for d in spec["ignoreDifferences"]}
    assert ("Deployment", "gallery-worker", ("/spec/replicas",)) in ignored


def test_applicationset_namespaces_match_the_overlays(
    builds: dict[str, Build], overlays: dict[str, Build]
) -> None:
    (appset,) = builds["argocd"].of_kind("ApplicationSet")
    for element in appset["spec"]["generators"][0]["list"]["elements"]:
        namespaces = {d["metadata"]["namespace"] for d in overlays[element["overlay"]].docs}
        assert namespaces == {element["namespace"]}


def test_projects_allow_what_the_apps_deploy(builds: dict[str, Build]) -> None:
    projects = {p["metadata"]["name"]: p["spec"] for p in builds["argocd"].of_kind("AppProject")}
    (appset,) = builds["argocd"].of_kind("ApplicationSet")
    gallery = projects["gallery"]
    allowed = {d["namespace"] for d in gallery["destinations"]}
    assert {e["namespace"] for e in appset["spec"]["generators"][0]["list"]["elements"]} == allowed
    platform_namespaces = {d["namespace"] for d in projects["platform"]["destinations"]}
    for app in builds["argocd"].of_kind("Application"):
        project = projects[app["spec"]["project"]]
        assert app["spec"]["source"]["repoURL"] in project["sourceRepos"]
        assert app["spec"]["destination"]["namespace"] in platform_namespaces


def test_sync_waves_put_the_platform_first(builds: dict[str, Build]) -> None:
    apps = applications(builds["argocd"])
    (appset,) = builds["argocd"].of_kind("ApplicationSet")
    waves = {name: sync_wave(app) for name, app in apps.items()}
    assert waves["openebs"] < waves["metallb"] < waves["metallb-config"]
    for operator in ("keda", "nats", "mongodb-operator", "kube-prometheus-stack"):
        assert waves["openebs"] < waves[operator] < sync_wave(appset)
    assert waves["metallb-config"] < sync_wave(appset)
    for project in builds["argocd"].of_kind("AppProject"):
        assert sync_wave(project) < min(waves.values())


def test_terraform_can_patch_the_metallb_pool(builds: dict[str, Build]) -> None:
    app = applications(builds["argocd"])["metallb-config"]
    (ignored,) = app["spec"]["ignoreDifferences"]
    assert (ignored["kind"], ignored["name"], ignored["namespace"]) == (
        "IPAddressPool",
        "gallery-pool",
        "metallb-system",
    )
    assert ignored["jsonPointers"] == ["/spec/addresses"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
