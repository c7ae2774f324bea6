"""ArgoCD on the test cluster, and a Git server on the node for it to sync from.

ArgoCD (application controller, repo-server, ApplicationSet controller and Redis) comes from
deploy/kustomize/testing/argocd over the manifests in the argo-cd/v3 module zip, with images
built on the node (scripts/cluster/images.sh argocd argocd-redis). The Git server is
``git daemon`` (the git protocol, git-daemon(1)) on the node's bridge address, which pods
reach through their default route; it serves a bare clone of this checkout's HEAD as ``main``.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.kube import Kube, wait_for
from tests.cluster.platform import module_dir, require_built
from tests.cluster.tools import ROOT, kustomize, kustomize_build, script

NODE_IP = "10.250.0.1"  # scripts/cluster/common.sh: the node's address on the bridge k8snode0
INSTALL = ROOT / "deploy" / "kustomize" / "testing" / "argocd"
GITOPS = ROOT / "deploy" / "argocd"
TEST_ENVIRONMENT = "deploy/kustomize/testing/cluster"
APP_IMAGE = "ghcr.io/gallery-pipeline/gallery-pipeline"  # the name the base manifests use
WORKLOADS = (
    "deployment/argocd-redis",
    "deployment/argocd-repo-server",
    "statefulset/argocd-application-controller",
    "deployment/argocd-applicationset-controller",
)
# Their pods, by the only label upstream's pod templates carry.
PODS = f"app.kubernetes.io/name in ({','.join(w.split('/')[1] for w in WORKLOADS)})"


def argocd_manifests() -> str:
    """``kustomize build`` of testing/argocd with the module's ``manifests/`` as upstream/."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "argocd"
        shutil.copytree(INSTALL, copy)
        upstream = module_dir("argocd") / "manifests"
        shutil.copytree(upstream, copy / "upstream", copy_function=shutil.copyfile)
        return kustomize_build(copy)


def with_server_key(manifests: str) -> str:
    """``manifests`` with a random ``server.secretkey`` in argocd-secret. argocd-server makes
    it at its first start; without that server the controllers refuse every destination
    ("server.secretkey is missing")."""
    docs = [d for d in yaml.safe_load_all(manifests) if d]
    for doc in docs:
        if doc["kind"] == "Secret" and doc["metadata"]["name"] == "argocd-secret":
            doc["stringData"] = {"server.secretkey": secrets.token_urlsafe(32)}
    return yaml.safe_dump_all(docs)


def install_argocd(kube: Kube) -> Kube:
    """ArgoCD running in namespace argocd (skips the test when it did not build)."""
    require_built("argocd")
    script("images.sh", "load", "argocd", "argocd-redis", timeout=900)
    kube.apply(with_server_key(argocd_manifests()), namespaced=False)
    argocd = kube.in_namespace("argocd")
    try:
        for workload in WORKLOADS:
            argocd.rollout(workload, timeout=300)
    except subprocess.CalledProcessError:
        print(argocd.run("get", "pods,events", "-o", "wide"))
        print(argocd.logs(PODS, tail=30))
        raise
    return argocd


def uninstall_argocd(argocd: Kube) -> None:
    """The ApplicationSet first (its Applications go with it and, having no resources
    finalizer, leave what they synced in place), then ArgoCD itself."""
    argocd.run("delete", "applicationset", "--all", "--wait=true", "--timeout=120s", timeout=150)
    argocd.run("delete", "-f", "-", "--ignore-not-found", "--wait=false", stdin=argocd_manifests())


def gallery_applicationset(repo_url: str) -> list[dict[str, Any]]:
    """The project's AppProject and ApplicationSet ``gallery`` (deploy/argocd) pointed at
    ``repo_url``, generating only the dev element, whose source is the test environment."""
    projects = yaml.safe_load_all((GITOPS / "projects.yaml").read_text())
    project = next(p for p in projects if p["metadata"]["name"] == "gallery")
    project["spec"]["sourceRepos"] = [repo_url]
    appset = yaml.safe_load((GITOPS / "applicationset.yaml").read_text())
    for generator in appset["spec"]["generators"]:
        elements = generator["list"]["elements"]
        generator["list"]["elements"] = [e for e in elements if e["overlay"] == "dev"]
    source = appset["spec"]["template"]["spec"]["source"]
    source.update(repoURL=repo_url, path=TEST_ENVIRONMENT)
    for doc in (project, appset):
        doc["metadata"]["namespace"] = "argocd"
    return [project, appset]


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout.strip()


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class GitServer:
    """``git daemon`` serving ``base``/gallery-pipeline.git on the node's address."""

    base: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bare(self) -> Path:
        return self.base / "gallery-pipeline.git"

    @property
    def url(self) -> str:
        return f"git://{NODE_IP}:{self.port}/gallery-pipeline.git"

    def head(self) -> str:
        return git("rev-parse", "refs/heads/main", cwd=self.bare)

    def commit_image_tag(self, tag: str) -> str:
        """A commit on main setting the app image's tag in the test environment, made as
        release.yml does (``kustomize edit set image``) and pushed over the git protocol;
        returns its hash."""
        work = self.base / "work"
        git("clone", "--quiet", self.url, str(work))
        subprocess.run(
            [kustomize(), "edit", "set", "image", f"{APP_IMAGE}=localhost/gallery-pipeline:{tag}"],
            cwd=work / TEST_ENVIRONMENT,
            check=True,
            timeout=60,
        )
        identity = ["-c", "user.name=cluster-test", "-c", "user.email=cluster-test@localhost"]
        git(
            *identity,
            "commit",
            "--quiet",
            "-am",
            f"Test environment: app image tag {tag}",
            cwd=work,
        )
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        return git("rev-parse", "HEAD", cwd=work)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def serve_checkout(base: Path) -> GitServer:
    """A bare clone of this checkout (HEAD as ``main``) served read-write by ``git daemon``."""
    bare = base / "gallery-pipeline.git"
    git("clone", "--quiet", "--bare", str(ROOT), str(bare))
    git("update-ref", "refs/heads/main", git("rev-parse", "HEAD", cwd=ROOT), cwd=bare)
    git("symbolic-ref", "HEAD", "refs/heads/main", cwd=bare)
    port = free_port(NODE_IP)
    command = ["git", "daemon", "--reuseaddr", f"--listen={NODE_IP}", f"--port={port}"]
    command += [f"--base-path={base}", "--export-all", "--enable=receive-pack", str(base)]
    server = GitServer(base, port, subprocess.Popen(command, stdin=subprocess.DEVNULL))
    try:
        wait_for("git daemon answering", lambda: git("ls-remote", server.url), timeout=30)
    except AssertionError:
        server.stop()
        raise
    return server
