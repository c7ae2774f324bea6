"""checkov over terraform/ (offline: --skip-download), every skip justified in place.

checkov has no built-in checks for the MAAS and Helm resources, so the scan also loads the
project's policies in terraform/policies (pinned chart versions, HTTPS chart repositories,
disk erase on release, deploy parameters) and runs the secrets framework over every file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.terraform.tfconfig import ROOT, TERRAFORM

pytestmark = pytest.mark.terraform

POLICIES = TERRAFORM / "policies"
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _checkov() -> str:
    """checkov from the test environment (the deploy extra), else from PATH."""
    beside_python = Path(sys.executable).with_name("checkov")
    found = str(beside_python) if beside_python.exists() else shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed (pip install -e '.[deploy]')")
    return found


@pytest.mark.timeout(600)
def test_checkov_passes(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            _checkov(),
            "--directory",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "secrets",
            "--external-checks-dir",
            str(POLICIES),
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LOG_LEVEL": "WARNING"},
    )
    assert result.stdout.strip(), result.stderr
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']} {check['file_path']}: {check['check_name']}"
        for item in reports
        for check in item.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert result.returncode == 0, result.stderr
    assert all(item["summary"]["parsing_errors"] == 0 for item in reports), reports
    passed = {
        check["check_id"]
        for item in reports
        for check in item.get("results", {}).get("passed_checks", [])
    }
    custom = {
        p.read_text(encoding="utf-8").split('id: "')[1].split('"')[0]
        for p in POLICIES.glob("*.yaml")
    }
    assert custom, "no custom policies"
    assert custom <= passed, f"policies that matched no resource: {custom - passed}"


def test_every_checkov_skip_is_justified() -> None:
    for path in TERRAFORM.rglob("*.tf"):
        for match in SKIP_COMMENT.finditer(path.read_text(encoding="utf-8")):
            reason = (match.group(2) or "").strip()
            assert len(reason) >= 20, f"{path.relative_to(ROOT)}: {match.group(1)} needs a reason"
