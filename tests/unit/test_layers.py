"""The import rule of docs/architecture.md, checked on every module's imports (ast).

Bottom to top: domain < runtime < (imaging, adapters) < services < bootstrap <
(gateway, workers) < gallery. A module imports its own layer or lower ones; imaging and
adapters do not import each other, nor gateway and workers; only adapters import the
client libraries; there is no import cycle; an import inside a function says why in a
comment; no function in gateway/, workers/ or pipeline/services/ is over 40 lines.
Imports under ``if TYPE_CHECKING:`` are not run, so they count for layers but not cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "gateway", "workers", "gallery")
# Longest prefix wins; equal ranks are peers.
LAYERS = {
    "pipeline.domain": 0,
    "pipeline.runtime": 1,
    "pipeline.jobs": 2,
    "pipeline.imaging": 3,
    "pipeline.adapters": 3,
    "pipeline.services": 4,
    "pipeline.bootstrap": 5,
    "gateway": 6,
    "workers": 6,
    "gallery": 7,
}
CLIENT_LIBRARIES = ("nats", "pymongo", "aioboto3", "aiobotocore", "botocore")
NOT_IN_SERVICES = ("aiohttp", *CLIENT_LIBRARIES)
MAX_FUNCTION_LINES = 40
SHORT_FUNCTIONS = ("gateway", "workers", "pipeline/services")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports, as a dotted name
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def layer_of(name: str) -> str | None:
    found = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    return max(found, key=len) if found else None


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing package
        package = module.split(".")[: -node.level] if node.level else []
        base = ".".join([*package, base] if base else package)
    # `from pipeline.domain import names` imports the module pipeline.domain.names.
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base
        for alias in node.names
    ]


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports() -> Iterator[Import]:
    for module, path in modules().items():
        tree = ast.parse(path.read_text())
        type_only = _type_checking_lines(tree)
        in_function: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                in_function.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module):
                    yield Import(
                        module,
                        target,
                        node.lineno,
                        node.lineno in in_function,
                        node.lineno in type_only,
                    )


def ours(target: str) -> bool:
    return target.split(".", maxsplit=1)[0] in PACKAGES


def test_every_module_has_a_layer() -> None:
    assert [m for m in modules() if m not in PACKAGES and layer_of(m) is None] == []


def test_no_import_runs_from_a_lower_layer_to_a_higher_one() -> None:
    wrong = []
    for imp in imports():
        if not ours(imp.target):
            continue
        mine, theirs = layer_of(imp.module), layer_of(imp.target)
        if mine is None or theirs is None or mine == theirs:
            continue
        if LAYERS[theirs] >= LAYERS[mine]:
            wrong.append(f"{imp.module}:{imp.line} imports {imp.target} ({mine} -> {theirs})")
    assert wrong == []


def test_the_client_libraries_stay_in_the_adapters() -> None:
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in imports()
        if imp.target.split(".")[0] in CLIENT_LIBRARIES
        and layer_of(imp.module) != "pipeline.adapters"
    ]
    assert wrong == []


def test_services_use_no_web_framework_or_client_library() -> None:
    wrong = [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in imports()
        if layer_of(imp.module) == "pipeline.services"
        and imp.target.split(".")[0] in NOT_IN_SERVICES
    ]
    assert wrong == []


def test_no_route_reaches_the_catalog_or_the_store() -> None:
    """The gateway calls services (which ask the access policy); ``app[BACKENDS].catalog``
    or ``.store`` in a route would read around it. Start-up wiring (``app.py``,
    ``main.py``) builds the services and may name the backends."""
    wrong = []
    for path in sorted((ROOT / "gateway").glob("*.py")):
        if path.name in ("app.py", "main.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("catalog", "store")
                and isinstance(node.value, ast.Subscript)
                and ast.unparse(node.value.slice) == "BACKENDS"
            ):
                wrong.append(f"gateway/{path.name}:{node.lineno} {ast.unparse(node)}")
    assert wrong == []


def test_there_is_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for imp in imports():
        if imp.target in graph and not imp.type_only and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    cycles = _cycles(graph)
    assert cycles == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            component.append(node)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_an_import_inside_a_function_says_why() -> None:
    unexplained = []
    for imp in imports():
        if not imp.in_function:
            continue
        lines = modules()[imp.module].read_text().splitlines()
        row = imp.line - 1
        while row > 0 and lines[row - 1].lstrip().startswith(("from ", "import ")):
            row -= 1  # a block of imports shares one comment above it
        if "#" not in lines[imp.line - 1] and not lines[row - 1].lstrip().startswith("#"):
            unexplained.append(f"{imp.module}:{imp.line}")
    assert unexplained == []


def test_entry_points_and_services_have_short_functions() -> None:
    long = []
    for folder in SHORT_FUNCTIONS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(ROOT)}:{node.name} ({length} lines)")
    assert long == []
