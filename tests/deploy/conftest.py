"""Fixtures of the deploy checks: pinned tools and every kustomization built once."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE_DIR = ROOT / "deploy" / "kustomize"
OVERLAYS = ("dev", "staging", "production")
# Every kustomization ArgoCD builds: the overlays, MetalLB's pool and the ArgoCD apps.
BUILDS = {
    **{name: KUSTOMIZE_DIR / "overlays" / name for name in OVERLAYS},
    "metallb-config": KUSTOMIZE_DIR / "platform" / "metallb-config",
    "argocd": ROOT / "deploy" / "argocd",
}


def tool(name: str) -> str:
    """The path of a pinned tool; a missing tool fails the test (make builds them first)."""
    # Python tools (kubernetes-validate) sit next to the interpreter; Go tools in .tools/bin.
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH: run scripts/tools.sh (make test does)")
    return path


def run(args: list[str], timeout: float = 110) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class Build:
    """The output of one `kustomize build`: its documents and the file they are written to."""

    name: str
    docs: list[dict[str, Any]]
    path: Path

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise LookupError(f"{self.name}: no {kind}/{name}")


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """Build every kustomization with the pinned kustomize, each into its own directory."""
    kustomize = tool("kustomize")
    out: dict[str, Build] = {}
    for name, path in BUILDS.items():
        result = run([kustomize, "build", str(path)])
        assert result.returncode == 0, f"kustomize build {path} failed:\n{result.stderr}"
        target = tmp_path_factory.mktemp(f"build-{name}") / f"{name}.yaml"
        target.write_text(result.stdout)
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        out[name] = Build(name, docs, target)
    return out


@pytest.fixture(scope="session")
def overlays(builds: dict[str, Build]) -> dict[str, Build]:
    return {name: builds[name] for name in OVERLAYS}
