"""200 clients streaming uploads for a minute: the only errors are 503 busy with Retry-After,
and the gateway's memory stays flat."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.chaos.harness import ChaosStack, Figures
from tests.chaos.photos import with_comment
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(600)]
CLIENTS = 200
SECONDS = 60.0
PADDING = 256 * 1024  # each body is a valid ~260 KB JPEG, streamed in 32 KiB chunks


async def test_two_hundred_streaming_clients_for_a_minute(
    tmp_path_factory: pytest.TempPathFactory, report: list[Figures]
) -> None:
    # No workers: this measures the gateway, not the renders the uploads queue. Like every
    # chaos stack it runs without the per-key rate limit (see ChaosStack): the limit under
    # test is the gateway's own.
    stack = await ChaosStack(tmp_path_factory.mktemp("load"), workers=0, mongo_timeout=5.0).start()
    base = jpeg_bytes(64, 48, seed=60_000)
    answers: Counter[str] = Counter()
    rss: list[int] = []
    deadline = time.monotonic() + SECONDS
    try:
        assert stack.session is not None
        sampler = asyncio.create_task(_sample_rss(stack, rss, deadline))
        await asyncio.gather(
            *(
                _client(stack.session, stack.url, base, n, deadline=deadline, answers=answers)
                for n in range(CLIENTS)
            )
        )
        await sampler
    finally:
        await stack.close()
    warm, end = rss[5:15], rss[-10:]
    figures: dict[str, Any] = {
        "answers": dict(answers),
        "rss_mb_warm": round(statistics.mean(warm) / 2**20),
        "rss_mb_end": round(statistics.mean(end) / 2**20),
        "rss_mb_max": round(max(rss) / 2**20),
    }
    report.append(
        Figures(
            "test_load.py::test_two_hundred_streaming_clients_for_a_minute",
            f"{CLIENTS} clients streaming ~260 KB uploads for {SECONDS:.0f} s",
            "no errors but 503 busy with Retry-After; gateway RSS flat",
            figures,
        )
    )
    assert set(answers) <= {"202", "503 busy"}, answers
    assert answers["202"] > 0
    assert figures["rss_mb_end"] <= figures["rss_mb_warm"] * 1.25 + 16, figures


async def _client(
    session: aiohttp.ClientSession,
    url: str,
    base: bytes,
    number: int,
    *,
    deadline: float,
    answers: Counter[str],
) -> None:
    sent = 0
    while time.monotonic() < deadline:
        sent += 1
        body = with_comment(base, f"client {number} upload {sent} ".encode() + b"x" * PADDING)
        async with session.post(
            f"{url}/v1/images",
            data=_stream(body),
            headers={"Content-Type": "image/jpeg"},
            timeout=aiohttp.ClientTimeout(total=120),
        ) as response:
            payload = await response.json(content_type=None)
            retry_after = response.headers.get("Retry-After")
        if response.status == 503 and payload["error"]["code"] == "busy" and retry_after:
            answers["503 busy"] += 1
            await asyncio.sleep(min(float(retry_after), 1.0))
        else:
            code = payload.get("error", {}).get("code", "") if isinstance(payload, dict) else ""
            answers[f"{response.status} {code}".strip()] += 1


async def _stream(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 32 * 1024):
        yield body[start : start + 32 * 1024]
        await asyncio.sleep(0)


async def _sample_rss(stack: ChaosStack, rss: list[int], deadline: float) -> None:
    while time.monotonic() < deadline:
        rss.append(stack.gateway_rss_bytes())
        await asyncio.sleep(1.0)
