"""CustomResourceDefinitions for the kinds the overlays use, made from tests/deploy/schemas.

The vendored JSON Schemas are closed subsets of the upstream CRDs' openAPIV3Schema. A CRD's
schema must be *structural* (Kubernetes API conventions, "Specifying a structural schema"):
no ``additionalProperties: false`` (unknown fields are pruned instead), no ``const``, no
``$schema``/``title``. This module rewrites them accordingly; the API server then validates
(and prunes) the overlay's custom resources against the same fields tests/deploy checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[1] / "deploy" / "schemas"

_PLURALS = {"PodMonitor": "podmonitors", "ServiceMonitor": "servicemonitors"}
_DROPPED = {"$schema", "title", "$id", "examples", "$comment"}


def structural(schema: Any) -> Any:
    """``schema`` rewritten into what a CRD accepts (recursively; input unchanged)."""
    if isinstance(schema, list):
        return [structural(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    branches = schema.get("anyOf") or schema.get("oneOf") or []
    if sorted(b.get("type", "") for b in branches) == ["integer", "string"]:
        # IntOrString: structural schemas spell it as an extension, not as a union of types.
        return {"x-kubernetes-int-or-string": True}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROPPED or (key == "additionalProperties" and value is False):
            continue
        if key == "additionalProperties" and value is True:
            out["x-kubernetes-preserve-unknown-fields"] = True
        elif key == "const":
            out["enum"] = [value]
        elif key == "properties":
            out[key] = {name: structural(sub) for name, sub in value.items()}
        else:
            out[key] = structural(value)
    if "enum" in out and "type" not in out:
        out["type"] = type_name(out["enum"][0])
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    if "additionalProperties" in out and "properties" in out:
        del out["additionalProperties"]
    return out


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def crd_for(path: Path) -> dict[str, Any]:
    """The CRD of one vendored schema file ``<group>_<kind lower>_<version>.json``."""
    group, _, version = path.stem.split("_")
    schema = json.loads(path.read_text())
    kind = schema["properties"]["kind"]["const"]
    plural = _PLURALS.get(kind, kind.lower() + ("es" if kind.endswith("s") else "s"))
    body = structural(schema)
    # metadata is the API server's own; status is written by controllers this test may lack.
    body["properties"].pop("metadata", None)
    body["properties"].pop("apiVersion", None)
    body["properties"].pop("kind", None)
    body["properties"]["status"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    body["required"] = [
        r for r in body.get("required", []) if r not in {"metadata", "apiVersion", "kind"}
    ]
    body.pop("description", None)
    body.pop("enum", None)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": body},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


#: Vendored for tests/deploy only: the test overlays take production's cert-manager resources
#: out (no cert-manager runs in the test cluster yet), so their CRDs are not installed.
NOT_IN_TEST_CLUSTER = {"cert-manager.io"}


def crds(*groups: str) -> list[dict[str, Any]]:
    """CRDs of every vendored schema in ``groups`` (all groups the test cluster uses when none
    is given)."""
    return [
        crd_for(path)
        for path in sorted(SCHEMAS.glob("*.json"))
        if (path.stem.split("_")[0] in groups)
        or (not groups and path.stem.split("_")[0] not in NOT_IN_TEST_CLUSTER)
    ]
