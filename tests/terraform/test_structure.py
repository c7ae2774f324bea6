"""Structural checks of terraform/ with python-hcl2.

These cover what OpenTofu cannot validate here because the providers (canonical/maas,
hashicorp/helm v3) are not available through the Go module proxy; see test_tofu.py for what
the real binary checks.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.terraform.tfconfig import (
    ENVS,
    MODULE_META,
    MODULES,
    ROOT,
    ROOT_MODULES,
    TERRAFORM,
    load_config,
    load_file,
    unwrap,
)

pytestmark = pytest.mark.terraform

PRODUCTION = "envs/production"
EXPECTED_NODES = {
    "nl-cloud-hf-22-1": "controller",
    "nl-cloud-hf-22-w1": "worker",
    "nl-cloud-hf-22-w2": "worker",
    "nl-cloud-hf-22-w3": "worker",
}
EXACT_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
# Variables whose name suggests a secret but which hold a path or public keys.
NOT_SECRET = frozenset({"ssh_authorized_keys", "ssh_key_path", "ssh_private_key_path"})
SECRET_NAME = re.compile(r"(password|token|secret|api_key|private_key)")


def _tfvars(relative: str) -> dict[str, object]:
    """terraform.tfvars merged with *.auto.tfvars.json, as Terraform loads them."""
    path = TERRAFORM / relative / "terraform.tfvars"
    values = load_file(path) if path.exists() else {}
    for auto in sorted((TERRAFORM / relative).glob("*.auto.tfvars.json")):
        values.update(json.loads(auto.read_text(encoding="utf-8")))
    return values


@pytest.mark.parametrize("relative", ROOT_MODULES)
def test_module_has_the_standard_files(relative: str) -> None:
    present = {p.name for p in (TERRAFORM / relative).glob("*.tf")}
    assert {"versions.tf", "variables.tf", "main.tf", "outputs.tf"} <= present


@pytest.mark.parametrize("relative", ROOT_MODULES)
def test_every_variable_is_documented_and_typed(relative: str) -> None:
    config = load_config(relative)
    assert config.variables
    for name, body in config.variables.items():
        assert str(body.get("description", "")).strip(), (
            f"{relative}: var.{name} has no description"
        )
        assert "type" in body, f"{relative}: var.{name} has no type"


@pytest.mark.parametrize("relative", ROOT_MODULES)
def test_every_variable_is_used(relative: str) -> None:
    config = load_config(relative)
    unused = set(config.variables) - config.references("var")
    assert not unused, f"{relative}: declared but never used: {sorted(unused)}"


@pytest.mark.parametrize("relative", ROOT_MODULES)
def test_every_reference_is_declared(relative: str) -> None:
    config = load_config(relative)
    assert config.references("var") <= set(config.variables)
    assert config.references("local") <= set(config.locals)
    assert config.references("module") <= set(config.modules)


@pytest.mark.parametrize("relative", ROOT_MODULES)
def test_every_output_is_documented(relative: str) -> None:
    for name, body in load_config(relative).outputs.items():
        assert str(body.get("description", "")).strip(), f"{relative}: output {name}"


@pytest.mark.parametrize("relative", ENVS)
def test_module_calls_match_the_modules_variables(relative: str) -> None:
    env = load_config(relative)
    assert env.modules
    for call_name, call in env.modules.items():
        source = str(call["source"])
        assert source.startswith("../../modules/"), f"{call_name}: local module expected"
        module = load_config(source.removeprefix("../../"))
        passed = set(call) - MODULE_META
        assert passed <= set(module.variables), f"{call_name}: unknown inputs"
        required = {name for name, body in module.variables.items() if "default" not in body}
        assert required <= passed, f"{call_name}: missing required inputs {required - passed}"
        used_outputs = set(re.findall(rf"\bmodule\.{call_name}\.(\w+)", env.text))
        assert used_outputs <= set(module.outputs), f"{call_name}: unknown outputs"


def test_env_required_variables_are_in_tfvars_or_documented() -> None:
    env = load_config(PRODUCTION)
    tfvars = _tfvars(PRODUCTION)
    docs = (ROOT / "docs" / "infrastructure.md").read_text(encoding="utf-8")
    assert set(tfvars) <= set(env.variables), "terraform.tfvars sets undeclared variables"
    for name, body in env.variables.items():
        if "default" in body or name in tfvars:
            continue
        assert f"TF_VAR_{name}" in docs or f"`{name}`" in docs, f"{name} is not documented"


def test_production_has_one_controller_and_three_workers() -> None:
    nodes = _tfvars(PRODUCTION)["nodes"]
    assert isinstance(nodes, dict)
    assert {name: node["role"] for name, node in nodes.items()} == EXPECTED_NODES


def test_roles_are_data_not_copies() -> None:
    maas = load_config("modules/maas-nodes")
    instances = [key for key in maas.resources if key[0] == "maas_instance"]
    assert instances == [("maas_instance", "node")]
    assert unwrap(maas.resources[instances[0]]["for_each"]) == "local.nodes"
    for relative in ROOT_MODULES:
        text = load_config(relative).text
        assert "nl-cloud-hf" not in text, f"{relative}: host names belong in tfvars"
    cluster = load_config("modules/k0s-cluster")
    assert not any(
        key[0] == "terraform_data" and key[1] != "k0sctl_apply" for key in cluster.resources
    )


def test_maas_allocation_and_deploy_parameters() -> None:
    instance = load_config("modules/maas-nodes").resources[("maas_instance", "node")]
    (allocate,) = instance["allocate_params"]
    assert {"hostname", "pool", "zone", "tags"} <= set(allocate)
    (deploy,) = instance["deploy_params"]
    assert unwrap(deploy["distro_series"]) == "var.distro_series"
    assert unwrap(deploy["user_data"]) == "local.user_data"
    maas_locals = load_config("modules/maas-nodes").locals
    assert "yamlencode(local.cloud_config)" in maas_locals["user_data"]
    (user,) = maas_locals["cloud_config"]["users"]
    assert unwrap(user["ssh_authorized_keys"]) == "var.ssh_authorized_keys"
    assert unwrap(user["lock_passwd"]) is True
    outputs = load_config("modules/maas-nodes").outputs
    assert {"nodes", "addresses", "fqdns"} <= set(outputs)


def test_k0sctl_is_reapplied_only_when_the_config_changes() -> None:
    cluster = load_config("modules/k0s-cluster")
    apply = cluster.resources[("terraform_data", "k0sctl_apply")]
    assert "sha256(local.config_yaml)" in str(apply["triggers_replace"])
    assert "yamlencode(local.k0sctl_config)" in str(cluster.locals["config_yaml"])
    (provisioner,) = apply["provisioner"]
    # python-hcl2 keeps the heredoc's quotes escaped.
    command = provisioner["local-exec"]["command"].replace('\\"', '"')
    assert '"$K0SCTL" apply --config' in command
    assert '"$K0SCTL" kubeconfig --config' in command
    assert EXACT_VERSION.match(cluster.variables["k0s_version"]["default"].split("+")[0][1:])


def test_bootstrap_installs_argocd_then_the_root_application() -> None:
    bootstrap = load_config("modules/bootstrap")
    argocd = bootstrap.resources[("helm_release", "argocd")]
    root = bootstrap.resources[("helm_release", "root_app")]
    assert (argocd["chart"], argocd["repository"]) == (
        "argo-cd",
        "https://argoproj.github.io/argo-helm",
    )
    assert root["chart"] == "argocd-apps"
    assert [unwrap(d) for d in root["depends_on"]] == ["helm_release.argocd"]
    for name in ("argocd_chart_version", "argocd_apps_chart_version"):
        assert EXACT_VERSION.match(bootstrap.variables[name]["default"]), name
    assert bootstrap.variables["root_app_path"]["default"] == "deploy/argocd"


def test_metallb_range_reaches_the_overlay_pool() -> None:
    bootstrap = load_config("modules/bootstrap")
    assert bootstrap.variables["metallb_pool_name"]["default"] == "gallery-pool"
    assert bootstrap.variables["metallb_namespace"]["default"] == "metallb-system"
    assert "default" not in bootstrap.variables["metallb_addresses"]
    patch = str(bootstrap.locals["ip_pool_patch"])
    assert "IPAddressPool" in patch
    assert "/spec/addresses" in patch
    assert "var.metallb_addresses" in patch
    assert "local.metallb_app_patch" in str(bootstrap.locals["root_application"])
    assert bootstrap.variables["metallb_app"]["default"]["name"] == "metallb-config"
    call = load_config(PRODUCTION).modules["bootstrap"]
    assert "var.metallb_range" in str(call["metallb_addresses"])


def test_helm_provider_uses_version_3_syntax() -> None:
    block_syntax = re.compile(
        r"^\s*(kubernetes|registry|experiments|set|set_list|set_sensitive)\s*\{", re.M
    )
    for relative in ROOT_MODULES:
        text = load_config(relative).text
        assert not block_syntax.search(text), f"{relative}: Helm provider v2 block syntax"
    helm = load_config(PRODUCTION).providers["helm"]
    assert isinstance(helm["kubernetes"], dict)
    argocd = load_config("modules/bootstrap").resources[("helm_release", "argocd")]
    assert isinstance(argocd["set"], list)


def test_provider_versions_are_pinned_and_locked() -> None:
    env = load_config(PRODUCTION)
    required = env.required_providers
    assert set(required) == {"maas", "helm"}
    lock = load_file(TERRAFORM / PRODUCTION / ".terraform.lock.hcl")
    locked = {}
    for block in lock["provider"]:
        for address, body in block.items():
            locked[address.removeprefix("registry.opentofu.org/")] = body
    for name, spec in required.items():
        version = spec["version"]
        assert EXACT_VERSION.match(version), f"{name}: pin an exact version, not {version!r}"
        assert locked[spec["source"]]["version"] == version
    assert required["maas"]["source"] == "canonical/maas"
    assert required["helm"]["source"] == "hashicorp/helm"
    assert int(required["helm"]["version"].split(".")[0]) == 3


@pytest.mark.parametrize("relative", MODULES)
def test_modules_bound_their_provider_versions(relative: str) -> None:
    config = load_config(relative)
    assert config.terraform[0]["required_version"].startswith(">=")
    for name, spec in config.required_providers.items():
        assert ">=" in spec["version"], f"{name}: no lower bound"
        assert "< " in spec["version"], f"{name}: no upper bound"
        env_version = load_config(PRODUCTION).required_providers[name]["version"]
        assert env_version.split(".")[0] in spec["version"], f"{name}: env pin out of range"


def test_remote_state_is_configured_at_init() -> None:
    (terraform,) = load_config(PRODUCTION).terraform
    (backend,) = terraform["backend"]
    assert backend == {"s3": {}}, "backend settings belong in backend.hcl, not in Git"
    example = load_file(TERRAFORM / PRODUCTION / "backend.hcl.example")
    assert not {"access_key", "secret_key", "token"} & set(example)


@pytest.mark.parametrize("relative", ROOT_MODULES)
def test_secret_variables_are_sensitive_without_defaults(relative: str) -> None:
    for name, body in load_config(relative).variables.items():
        if name in NOT_SECRET or not SECRET_NAME.search(name):
            continue
        assert body.get("sensitive") is True, f"{relative}: var.{name} must be sensitive"
        assert body.get("default") is None, f"{relative}: var.{name} must not default"


SECRET_LITERALS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "MAAS API key": re.compile(r"\b[A-Za-z0-9]{18}:[A-Za-z0-9]{18}:[A-Za-z0-9]{32}\b"),
    "AWS access key": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "credential literal": re.compile(
        r"\b(api_key|password|token|secret_key|access_key)\s*=\s*\"(?!\$\{)[^\"]+\"", re.I
    ),
}


def test_no_secret_literals_in_terraform_files() -> None:
    files = [p for p in TERRAFORM.rglob("*") if p.is_file() and ".terraform" not in p.parts]
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        for label, pattern in SECRET_LITERALS.items():
            assert not pattern.search(text), f"{path.relative_to(ROOT)}: {label}"


def test_secrets_reach_providers_only_through_variables() -> None:
    maas = load_config(PRODUCTION).providers["maas"]
    assert unwrap(maas["api_key"]) == "var.maas_api_key"
    tfvars = _tfvars(PRODUCTION)
    assert not {name for name in tfvars if SECRET_NAME.search(name)}


def test_state_and_credentials_are_ignored_by_git() -> None:
    ignored = (TERRAFORM / ".gitignore").read_text(encoding="utf-8").split()
    for pattern in ("*.tfstate", ".terraform/", "backend.hcl", "*.auto.tfvars", "kubeconfig*"):
        assert pattern in ignored


def test_infrastructure_doc_covers_the_path_to_a_running_gallery() -> None:
    doc = (ROOT / "docs" / "infrastructure.md").read_text(encoding="utf-8")
    assert "```mermaid" in doc
    for word in ("MAAS", "k0s", "ArgoCD", "MetalLB", "deploy/argocd", "gallery-pool"):
        assert word in doc, word
    assert re.search(r"^#+ .*add(ing)? a worker", doc, re.I | re.M)
