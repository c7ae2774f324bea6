"""Read the Terraform tree with python-hcl2 for the structural checks.

python-hcl2 changed its output between major versions (8.x keeps string quotes and adds
block markers unless told otherwise); `load_file` asks every version for the same plain
shape: strings without quotes, expressions as ``${...}``, blocks as lists of dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULES = ("modules/maas-nodes", "modules/k0s-cluster", "modules/bootstrap")
ENVS = ("envs/production",)
ROOT_MODULES = MODULES + ENVS

# Meta-arguments of a module block that are not input variables.
MODULE_META = frozenset({"source", "version", "providers", "depends_on", "count", "for_each"})


def load_file(path: Path) -> dict[str, Any]:
    """Parse one HCL file into plain Python data."""
    options_cls = getattr(hcl2, "SerializationOptions", None)
    with path.open(encoding="utf-8") as handle:
        if options_cls is None:
            return hcl2.load(handle)
        options = options_cls(
            with_comments=False,
            explicit_blocks=False,
            preserve_heredocs=False,
            strip_string_quotes=True,
        )
        return hcl2.load(handle, serialization_options=options)


def unwrap(value: Any) -> Any:
    """``"${var.x}"`` -> ``"var.x"``; other values unchanged."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value


@dataclass
class Config:
    """The blocks of one root or child module (every ``*.tf`` file of a directory)."""

    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Every ``*.tf`` file of the module, concatenated."""
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(self.path.glob("*.tf")))

    @property
    def required_providers(self) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for block in self.terraform:
            for providers in block.get("required_providers", []):
                found.update(providers)
        return found

    def references(self, kind: str) -> set[str]:
        """Names referenced as ``kind.NAME`` (``var``, ``local``, ``module``) anywhere."""
        return set(re.findall(rf"\b{kind}\.([A-Za-z0-9_-]+)", self.text))


@cache
def load_config(relative: str) -> Config:
    """Load the module at ``terraform/<relative>``."""
    config = Config(TERRAFORM / relative)
    for path in sorted(config.path.glob("*.tf")):
        parsed = load_file(path)
        for block in parsed.get("variable", []):
            config.variables.update(block)
        for block in parsed.get("output", []):
            config.outputs.update(block)
        for block in parsed.get("module", []):
            config.modules.update(block)
        for block in parsed.get("provider", []):
            config.providers.update(block)
        for block in parsed.get("locals", []):
            config.locals.update(block)
        config.terraform.extend(parsed.get("terraform", []))
        for kind, target in (("resource", config.resources), ("data", config.data)):
            for block in parsed.get(kind, []):
                for type_name, named in block.items():
                    for name, body in named.items():
                        target[(type_name, name)] = body
    return config
