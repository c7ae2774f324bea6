"""Per-key limits through two gateway replicas on real servers: the counters are shared."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.appkeys import BACKENDS
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.limits import WINDOW_SECONDS
from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.integration.test_gateway import auth, gateway_client

pytestmark = pytest.mark.integration
TUS = {"Tus-Resumable": "1.0.0"}


async def test_the_upload_rate_is_shared_by_replicas_and_answers_429(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(quota=QuotaSettings(uploads_per_minute=3))
    # The window is a clock minute: start well inside one so all five requests share it.
    into = time.time() % WINDOW_SECONDS
    if into > WINDOW_SECONDS - 15:
        await asyncio.sleep(WINDOW_SECONDS - into + 0.5)
    async with gateway_client(settings) as (first, key), gateway_client(settings) as (second, _):
        statuses = []
        for n, client in enumerate([first, second, first, second]):
            response = await client.post(
                "/v1/images", data=png_bytes(20, 20, seed=n), headers=auth(key)
            )
            statuses.append(response.status)
        assert statuses == [202, 202, 202, 429]
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert (await response.json())["error"]["code"] == "rate_limited"
        tus = await first.post("/v1/uploads", headers={**auth(key), **TUS, "Upload-Length": "100"})
        assert tus.status == 429, "tus creations count too"
        other = await first.app[BACKENDS].catalog.create_api_key("alice", "second key")
        fresh = await second.post("/v1/images", data=png_bytes(20, 20, seed=9), headers=auth(other))
        assert fresh.status == 202, "the limit is per key"


async def test_quotas_answer_403_naming_the_quota(make_settings: SettingsFactory) -> None:
    settings = make_settings(quota=QuotaSettings(max_images=1, max_bytes=50_000))
    async with gateway_client(settings) as (client, key):
        first = await client.post("/v1/images", data=png_bytes(30, 30, seed=1), headers=auth(key))
        assert first.status == 202
        second = await client.post("/v1/images", data=png_bytes(30, 30, seed=2), headers=auth(key))
        body = await second.json()
        assert (second.status, body["error"]["code"]) == (403, "quota_exceeded")
        assert "images" in body["error"]["message"]
    settings = make_settings(quota=QuotaSettings(max_bytes=50_000))
    async with gateway_client(settings) as (client, key):
        big = await client.post(
            "/v1/uploads", headers={**auth(key), **TUS, "Upload-Length": "50001"}
        )
        body = await big.json()
        assert (big.status, body["error"]["code"]) == (403, "quota_exceeded")
        assert "bytes" in body["error"]["message"]
