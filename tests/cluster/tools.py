"""The project's cluster scripts (scripts/cluster) and kustomize, called from the tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "cluster"


def script(name: str, *args: str, timeout: float = 900) -> str:
    """Run scripts/cluster/NAME and return its stdout; its stderr goes to the test output."""
    result = subprocess.run(
        [str(SCRIPTS / name), *args],
        stdout=subprocess.PIPE,
        # The process's own stderr (fd 2), not sys.stderr: inside a test using capsys that is
        # an in-memory stream without a file descriptor.
        stderr=None,
        text=True,
        timeout=timeout,
        check=True,
    )
    return result.stdout.strip()


def kustomize() -> str:
    """The pinned kustomize (scripts/tools.sh links it into .tools/bin)."""
    return shutil.which("kustomize") or str(ROOT / ".tools" / "bin" / "kustomize")


def kustomize_build(path: Path) -> str:
    return subprocess.run(
        [kustomize(), "build", str(path)], capture_output=True, text=True, check=True
    ).stdout
