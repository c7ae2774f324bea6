"""schemathesis against the live gateway: every operation of /openapi.json, 50+ examples each.

Default checks plus response-schema conformance, with a tenant key (and the admin key for
the admin routes). The endless event stream is left out here and read with a bound in
tests/integration/test_events.py and tests/e2e/test_events.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pipeline.runtime.settings import GatewaySettings, QuotaSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import png_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ADMIN = "admin-key-for-schemathesis"
EXAMPLES = 50
CONFIG = Path(__file__).with_name("schemathesis.toml")
ROOT = Path(__file__).resolve().parents[2]


def schemathesis(
    config: Path, url: str, key: str, report: Path, *selection: str
) -> subprocess.CompletedProcess[str]:
    command = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert command, "schemathesis is pinned in the test extra"
    return subprocess.run(
        [
            command,
            "--config-file",
            str(config),
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


async def seed(url: str, key: str) -> dict[str, list[str]]:
    """A photo a real worker rendered, an album (shared by a link, the photo in it) and an
    open tus upload: real ids and a live token for the
    generated requests, so they reach renditions (200, 206, 302, 304, 416) and uploads,
    not only 404s. (Without them the rendition redirect's bug below went unseen: a query
    with %1F, decoded into Location, made aiohttp drop the connection.)"""
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(url, headers=headers) as session:
        async with session.post("/v1/images", data=png_bytes(64, 48, seed=3)) as response:
            assert response.status == 202, await response.text()
            image_id = (await response.json())["id"]
        image = await ready(session, image_id)
        async with session.post("/v1/albums", json={"name": "seeded"}) as response:
            album_id = (await response.json())["id"]
        async with session.put(f"/v1/albums/{album_id}/images/{image_id}") as response:
            assert response.status == 204, await response.text()
        shared = {"album_id": album_id, "allow_download": True}
        async with session.post("/v1/shares", json=shared) as response:
            assert response.status == 201, await response.text()
            share = await response.json()
        tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "1000"}
        async with session.post("/v1/uploads", headers=tus) as response:
            assert response.status == 201, await response.text()
            upload_id = response.headers["Location"].rsplit("/", 1)[1]
    urls = [r["url"].rsplit("/", 2) for r in image["renditions"].values()]
    return {
        "image_id": [image_id],
        "album_id": [album_id],
        "upload_id": [upload_id],
        "share_id": [share["id"]],
        "token": [share["url"].rsplit("/", 1)[1]],
        "name": [name for _, name, _ in urls],
        "version": [version for _, _, version in urls],
    }


async def ready(session: aiohttp.ClientSession, image_id: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    while loop.time() < deadline:
        async with session.get(f"/v1/images/{image_id}") as response:
            image: dict[str, Any] = await response.json()
        if image["status"] == "ready":
            return image
        await asyncio.sleep(0.1)
    raise AssertionError(f"the seeded photo is not ready after 60 s: {image}")


def dictionaries(seeds: dict[str, list[str]]) -> str:
    """TOML: each path parameter takes a seeded value half of the time."""
    lines = ["", "[parameters]"]
    for name in seeds:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    for name, values in seeds.items():
        lines += ["", f"[dictionaries.{name}]", f"values = {json.dumps(values)}"]
    return "\n".join(lines) + "\n"


async def test_the_live_gateway_matches_its_openapi_document(
    make_settings: SettingsFactory, start_stack: StackFactory, tmp_path: Path
) -> None:
    settings = make_settings(
        gateway=GatewaySettings(admin_key=ADMIN, admin_listener="public"),
        quota=QuotaSettings(uploads_per_minute=0),
    )
    stack = await start_stack(settings, workers=1)
    key = await stack.api_key("alice")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.read_text() + dictionaries(await seed(stack.url, key)))
    tenant = await asyncio.to_thread(
        schemathesis,
        config,
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
        schemathesis,
        config,
        stack.url,
        ADMIN,
        tmp_path / "admin",
        "--include-path-regex",
        "^/v1/admin/",
    )
    print(admin.stdout[-20000:])
    assert admin.returncode == 0, admin.stdout[-8000:] + admin.stderr[-2000:]
