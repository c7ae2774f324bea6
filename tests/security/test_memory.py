"""The gateway's memory at its upload cap stays under the manifests' limit.

Issue 18: 32 concurrent completing PATCHes took a fresh gateway to 446 MB. Here the base
manifests' cap (12 uploads, 512 Mi limit, docs/security.md "Memory per upload") is filled with
resumable uploads whose PATCHes leave a tail and then complete (the writer's worst case: tail
segments plus new bytes plus the part being sent), against a real ``gallery gateway`` process;
its peak resident memory (``VmHWM``) is read from /proc.
"""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

import aiohttp
import pytest

from pipeline.runtime.settings import FairShareSettings, GatewaySettings, TusSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory, start_stack  # noqa: F401 (the fixture)
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]
MiB = 1024 * 1024
CAP = 12  # GALLERY_GATEWAY_MAX_CONCURRENT_UPLOADS in deploy/kustomize/base/gallery.env
LIMIT_BYTES = 512 * MiB  # the gateway container's memory limit in the base manifests
TUS = {"Tus-Resumable": "1.0.0"}


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


async def resumable(session: aiohttp.ClientSession, url: str, key: str, photo: bytes) -> int:
    """Create, PATCH 4 MiB (a tail), then the rest (fills a part and completes)."""
    auth = {"Authorization": f"Bearer {key}", **TUS}
    meta = "filename " + base64.b64encode(b"big.jpg").decode()
    headers = {**auth, "Upload-Length": str(len(photo)), "Upload-Metadata": meta}
    async with session.post(f"{url}/v1/uploads", headers=headers) as created:
        assert created.status == 201, await created.text()
        location = created.headers["Location"]
    offset = 0
    status = 0
    for end in (4 * MiB, len(photo)):
        patch = {
            **auth,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        async with session.patch(
            f"{url}{location}", data=io.BytesIO(photo[offset:end]), headers=patch
        ) as r:
            status = r.status
            assert status == 204, await r.text()
        offset = end
    return status


async def test_the_gateway_stays_under_its_memory_limit_at_its_upload_cap(
    make_settings: SettingsFactory,
    start_stack: StackFactory,  # noqa: F811 (the fixture imported above)
) -> None:
    settings = make_settings(
        gateway=GatewaySettings(max_concurrent_uploads=CAP),
        fair=FairShareSettings(uploads_per_tenant=CAP, uploads_per_key=CAP),
        tus=TusSettings(part_bytes=8 * MiB),
    )
    stack = await start_stack(settings, workers=0)
    assert stack.gateway is not None
    pid = stack.gateway.process.pid
    key = await stack.api_key("alice")
    photos = [jpeg_bytes(4000, 3000, quality=100)] * CAP  # ~10 MB; the same bytes: duplicates
    before = peak_rss(pid)
    # One connection per request: a pooled connection the gateway closed after its keep-alive
    # would make aiohttp retry a PATCH (and its retry cannot resend a bytes body).
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        statuses = await asyncio.gather(
            *(resumable(session, stack.url, key, photo) for photo in photos)
        )
    assert statuses == [204] * CAP
    peak = peak_rss(pid)
    print(
        f"gateway peak RSS {peak / MiB:.0f} MiB at {CAP} uploads of "
        f"{len(photos[0]) / MiB:.1f} MB (idle {before / MiB:.0f} MiB; limit {LIMIT_BYTES // MiB})"
    )
    assert peak < LIMIT_BYTES
