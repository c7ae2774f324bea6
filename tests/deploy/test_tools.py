"""Checks by external tools: checkov, promtool, actionlint."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import BUILDS, ROOT, Build, run, tool

pytestmark = pytest.mark.deploy

PROMTOOL_TESTS = Path(__file__).parent / "promtool" / "alerts.test.yaml"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", BUILDS)
def test_checkov_passes(builds: dict[str, Build], name: str) -> None:
    """Skips are `checkov.io/skipN` annotations next to the resource, each with its reason."""
    build = builds[name]
    result = run(
        [
            tool("checkov"),
            "-d",
            str(build.path.parent),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--compact",
        ],
        timeout=590,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_every_checkov_skip_has_a_reason(builds: dict[str, Build]) -> None:
    for build in builds.values():
        for doc in build.docs:
            for key, value in doc["metadata"].get("annotations", {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = value.partition("=")
                    assert check.startswith("CKV"), value
                    assert len(reason.split()) >= 5, f"{check}: give a reason"


@pytest.fixture
def rules_dir(builds: dict[str, Build], tmp_path: Path) -> Path:
    rule = builds["production"].get("PrometheusRule", "gallery")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(PROMTOOL_TESTS, tmp_path / PROMTOOL_TESTS.name)
    return tmp_path


def test_promtool_checks_rules(rules_dir: Path) -> None:
    result = run([tool("promtool"), "check", "rules", str(rules_dir / "rules.yaml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_alerts(rules_dir: Path) -> None:
    result = run([tool("promtool"), "test", "rules", str(rules_dir / PROMTOOL_TESTS.name)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_tests_cover_every_alert(builds: dict[str, Build]) -> None:
    rule = builds["production"].get("PrometheusRule", "gallery")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    tested = {t["alertname"] for test in tests for t in test.get("alert_rule_test", [])}
    assert tested == alerts


def test_every_alert_has_a_runbook_entry(builds: dict[str, Build]) -> None:
    rule = builds["production"].get("PrometheusRule", "gallery")
    runbook = (ROOT / "docs" / "operations.md").read_text()
    headings = {line.lstrip("#").strip() for line in runbook.splitlines() if line.startswith("#")}
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            if "alert" in r:
                assert r["alert"] in headings, f"docs/operations.md has no section {r['alert']}"
                anchor = r["annotations"]["runbook_url"].rsplit("#", 1)[1]
                assert anchor == r["alert"].lower()


def test_actionlint_passes() -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {p.name for p in workflows} >= {"ci.yml", "release.yml"}
    result = run([tool("actionlint"), "-no-color", *map(str, workflows)])
    assert result.returncode == 0, result.stdout + result.stderr
