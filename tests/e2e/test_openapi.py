"""schemathesis against the live gateway: every operation of /openapi.json, 50+ examples each.

Default checks plus response-schema conformance, with a tenant key (and the admin key for
the admin routes). The endless event stream is left out here and read with a bound in
tests/integration/test_events.py and tests/e2e/test_events.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.runtime.settings import GatewaySettings, QuotaSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ADMIN = "admin-key-for-schemathesis"
EXAMPLES = 50
CONFIG = Path(__file__).with_name("schemathesis.toml")
ROOT = Path(__file__).resolve().parents[2]


def schemathesis(
    url: str, key: str, report: Path, *selection: str
) -> subprocess.CompletedProcess[str]:
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert command, "schemathesis is pinned in the test extra"
    return subprocess.run(
        [
            command,
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "20261129",
            # One worker: Python 3.11.7's ast.parse is not thread-safe ("AST constructor
            # recursion depth mismatch", CPython gh-106905), and hypothesis parses lambdas.
            "--workers",
            "1",
            "--no-color",
            "--generation-database",
            "none",
            "--report",
            "junit",
            "--report-dir",
            str(report),
            *selection,
        ],
        # The hooks module is imported from the checkout; the run's own files (its crash
        # cache, reports) stay in the test's folder.
        env={
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
            "PYTHONPATH": str(ROOT),
        },
        cwd=report.parent,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )


async def test_the_live_gateway_matches_its_openapi_document(
    make_settings: SettingsFactory, start_stack: StackFactory, tmp_path: Path
) -> None:
    settings = make_settings(
        gateway=GatewaySettings(admin_key=ADMIN), quota=QuotaSettings(uploads_per_minute=0)
    )
    stack = await start_stack(settings, workers=0)
    key = await stack.api_key("alice")
    tenant = await asyncio.to_thread(
        schemathesis,
        stack.url,
        key,
        tmp_path / "tenant",
        "--exclude-operation-id",
        "streamEvents",
        "--exclude-path-regex",
        "^/v1/admin/",
    )
    print(tenant.stdout[-20000:])
    assert tenant.returncode == 0, tenant.stdout[-8000:] + tenant.stderr[-2000:]
    admin = await asyncio.to_thread(
        schemathesis, stack.url, ADMIN, tmp_path / "admin", "--include-path-regex", "^/v1/admin/"
    )
    print(admin.stdout[-20000:])
    assert admin.returncode == 0, admin.stdout[-8000:] + admin.stderr[-2000:]
