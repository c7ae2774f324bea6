"""Checks with the real OpenTofu binary (built by scripts/tools.sh through the Go module proxy).

What runs where:
- `tofu fmt -check -recursive` over all of terraform/ (needs no provider);
- `tofu init` + `tofu validate` + `tofu test` for the modules whose providers are available
  offline. k0s-cluster uses only the built-in terraform_data, so it gets all three.
- The others need canonical/maas or hashicorp/helm v3, which the Go module proxy does not
  serve (the MAAS provider is not on it at all; helm only as v1.3.2, before the v3 syntax),
  so they are covered structurally in test_structure.py. `tofu init` runs against an empty
  filesystem mirror with no direct installation, so nothing is ever fetched from a registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.terraform.tfconfig import ROOT, ROOT_MODULES, TERRAFORM, load_config

pytestmark = pytest.mark.terraform

TOFU = ROOT / ".tools" / "bin" / "tofu"
TOOLS_SCRIPT = ROOT / "scripts" / "tools.sh"

TOFU_VALIDATED = ("modules/k0s-cluster",)
STRUCTURAL_ONLY = {
    "modules/maas-nodes": {"canonical/maas"},
    "modules/bootstrap": {"hashicorp/helm"},
    "envs/production": {"canonical/maas", "hashicorp/helm"},
}


@pytest.fixture(scope="session")
def tofu() -> Path:
    """The tofu binary scripts/tools.sh provides; missing is a failure, not a skip."""
    listed = re.search(r'^\s*"tofu\|', TOOLS_SCRIPT.read_text(encoding="utf-8"), re.M)
    assert listed, "scripts/tools.sh no longer builds tofu: update test_tofu.py"
    if not os.access(TOFU, os.X_OK):
        pytest.fail(f"{TOFU} is missing: run `scripts/tools.sh tofu` (make test does)")
    return TOFU


@pytest.fixture(scope="session")
def tofu_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for tofu: a CLI config whose only provider source is an empty local
    mirror, no plugin cache, no checkpoint calls."""
    home = tmp_path_factory.mktemp("tofu")
    mirror = home / "mirror"
    mirror.mkdir()
    cli_config = home / "tofurc"
    cli_config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["*/*/*"]\n  }}\n'
        "}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "TOFU_"))}
    env.update(
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        CHECKPOINT_DISABLE="1",
    )
    return env


def _run(
    tofu: Path, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tofu), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def _copy(relative: str, tmp_path: Path) -> Path:
    """Work on a copy so init never writes .terraform/ or a lock file into the checkout."""
    target = tmp_path / relative
    shutil.copytree(TERRAFORM / relative, target)
    return target


def test_every_root_is_either_validated_or_structural() -> None:
    assert set(TOFU_VALIDATED) | set(STRUCTURAL_ONLY) == set(ROOT_MODULES)
    assert not set(TOFU_VALIDATED) & set(STRUCTURAL_ONLY)
    for relative in TOFU_VALIDATED:
        assert not load_config(relative).required_providers, relative
    for relative, providers in STRUCTURAL_ONLY.items():
        sources = {spec["source"] for spec in load_config(relative).required_providers.values()}
        assert sources == providers, relative


def test_fmt(tofu: Path, tofu_env: dict[str, str]) -> None:
    result = _run(tofu, tofu_env, TERRAFORM, "fmt", "-check", "-recursive", "-diff")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("relative", TOFU_VALIDATED)
def test_init_and_validate(
    tofu: Path, tofu_env: dict[str, str], tmp_path: Path, relative: str
) -> None:
    workdir = _copy(relative, tmp_path)
    init = _run(tofu, tofu_env, workdir, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    validate = _run(tofu, tofu_env, workdir, "validate", "-json", "-no-color")
    report = json.loads(validate.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=2)
    assert report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=2)


@pytest.mark.parametrize("relative", TOFU_VALIDATED)
def test_tofu_test(tofu: Path, tofu_env: dict[str, str], tmp_path: Path, relative: str) -> None:
    workdir = _copy(relative, tmp_path)
    assert list((workdir / "tests").glob("*.tftest.hcl")), "no tofu test files"
    init = _run(tofu, tofu_env, workdir, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    result = _run(tofu, tofu_env, workdir, "test", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Success! [1-9]\d* passed, 0 failed", result.stdout), result.stdout


@pytest.mark.parametrize("relative", sorted(STRUCTURAL_ONLY))
def test_init_never_reaches_a_registry(
    tofu: Path, tofu_env: dict[str, str], tmp_path: Path, relative: str
) -> None:
    """The providers these need are not in the offline mirror: init must fail on exactly
    that (proving the configuration and the lock file parse and nothing is downloaded), not
    on syntax."""
    workdir = _copy(relative, tmp_path)
    for module in ("maas-nodes", "k0s-cluster", "bootstrap"):
        shutil.copytree(
            TERRAFORM / "modules" / module, tmp_path / "modules" / module, dirs_exist_ok=True
        )
    init = _run(tofu, tofu_env, workdir, "init", "-backend=false", "-input=false", "-no-color")
    output = init.stdout + init.stderr
    assert init.returncode != 0
    assert (
        "Failed to query available provider packages" in output
        or "Failed to install provider" in output
    ), output
    for source in STRUCTURAL_ONLY[relative]:
        assert source in output, output
