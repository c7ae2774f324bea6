"""Operations an attacker could lean on: an open /readyz that makes the gateway check its
backends per call, the admin API without a trail, unthrottled album creation, keys that
never end."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.admin import admin_app
from gateway.appkeys import BACKENDS, KEYS, READINESS
from pipeline.runtime.health import Readiness, ops_app
from pipeline.runtime.settings import GatewaySettings, QuotaSettings
from pipeline.services.limits import WINDOW_SECONDS
from tests.conftest import SettingsFactory
from tests.integration.test_gateway import auth, gateway_client
from tests.waiting import eventually

pytestmark = pytest.mark.security
ADMIN = "admin-secret-for-tests"


async def test_readyz_checks_the_backends_at_most_once_per_interval() -> None:
    runs = 0
    now = [100.0]

    async def check() -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)

    readiness = Readiness({"storage": check}, interval_seconds=2.0, clock=lambda: now[0])
    answers = await asyncio.gather(*(readiness.response() for _ in range(200)))
    assert {a.status for a in answers} == {200}
    assert runs == 1, "200 callers at once: one run of the checks"
    now[0] += 2.0
    await readiness.response()
    assert runs == 2


async def test_readyz_is_only_on_the_ops_listener(make_settings: SettingsFactory) -> None:
    """Nobody on the internet makes the gateway check its backends: the public port has no
    /readyz; the ops listener's answers from the shared checks."""
    async with gateway_client(make_settings()) as (client, _):
        public = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
        assert {a.status for a in public} == {404}
        document = await (await client.get("/openapi.json")).json()
        assert "/readyz" not in document["paths"]
        async with TestClient(TestServer(ops_app(client.app[READINESS]))) as operator:
            answers = await asyncio.gather(*(operator.get("/readyz") for _ in range(50)))
            assert {a.status for a in answers} == {200}


async def test_admin_calls_leave_an_audit_trail(
    make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(gateway=GatewaySettings(admin_key=ADMIN, admin_listener="public"))
    caplog.set_level(logging.INFO, logger="gallery.audit")
    async with gateway_client(settings) as (client, _):
        made = await client.post(
            "/v1/admin/keys", json={"tenant": "carol\nforged"}, headers=auth(ADMIN)
        )
        assert made.status == 400
        made = await client.post("/v1/admin/keys", json={"tenant": "carol"}, headers=auth(ADMIN))
        assert made.status == 201
        key_id = (await made.json())["id"]
        wrong = await client.get("/v1/admin/keys", headers=auth("guess"))
        assert wrong.status == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "gallery.audit"]
    assert all("\n" not in line for line in lines), "one line per call"
    entries = [json.loads(line) for line in lines]
    assert [(e["method"], e["status"]) for e in entries] == [
        ("POST", 400),
        ("POST", 201),
        ("GET", 401),
    ]
    assert (entries[1]["tenant"], entries[1]["key_id"]) == ("carol", key_id)
    assert all(e["remote"] == "127.0.0.1" for e in entries)


async def test_album_creation_is_rate_limited_per_tenant(make_settings: SettingsFactory) -> None:
    into = time.time() % WINDOW_SECONDS
    if into > WINDOW_SECONDS - 15:  # all requests in one clock minute
        await asyncio.sleep(WINDOW_SECONDS - into + 0.5)
    settings = make_settings(quota=QuotaSettings(albums_per_minute=3))
    async with gateway_client(settings) as (client, key):
        second = await client.app[BACKENDS].catalog.create_api_key("alice", "another key")
        statuses = []
        for n, caller in enumerate([key, second, key, second]):
            response = await client.post(
                "/v1/albums", json={"name": f"album {n}"}, headers=auth(caller)
            )
            statuses.append(response.status)
        assert statuses == [201, 201, 201, 429], "the tenant's keys share one rate"
        bob = await client.app[BACKENDS].catalog.create_api_key("bob")
        other = await client.post("/v1/albums", json={"name": "b"}, headers=auth(bob))
        assert other.status == 201


async def test_a_key_expires_and_records_its_last_use(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        gateway=GatewaySettings(admin_key=ADMIN, key_cache_seconds=0.2, admin_listener="public")
    )
    async with gateway_client(settings) as (client, _):
        made = await client.post(
            "/v1/admin/keys",
            json={"tenant": "dave", "expires_in_seconds": 2},
            headers=auth(ADMIN),
        )
        assert made.status == 201
        body = await made.json()
        assert body["last_used_at"] is None
        assert body["expires_at"] is not None
        assert (await client.get("/v1/images", headers=auth(body["key"]))).status == 200
        listed = await (await client.get("/v1/admin/keys?tenant=dave", headers=auth(ADMIN))).json()
        assert listed["items"][0]["last_used_at"] is not None

        async def refused() -> bool:
            response = await client.get("/v1/images", headers=auth(body["key"]))
            return response.status == 401

        await eventually(refused, "the expired key is refused", timeout=30)
        bad = await client.post(
            "/v1/admin/keys",
            json={"tenant": "dave", "expires_in_seconds": "soon"},
            headers=auth(ADMIN),
        )
        assert bad.status == 400


async def test_the_admin_api_is_off_the_public_listener_by_default(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(gateway=GatewaySettings(admin_key=ADMIN))
    async with gateway_client(settings) as (client, key):
        public = await client.get("/v1/admin/keys", headers=auth(ADMIN))
        assert public.status == 404
        document = await (await client.get("/openapi.json")).json()
        assert not [p for p in document["paths"] if p.startswith("/v1/admin/")]
        ops = ops_app(client.app[READINESS], admin_app(settings, client.app[KEYS]))
        async with TestClient(TestServer(ops)) as operator:
            made = await operator.post(
                "/v1/admin/keys", json={"tenant": "erin"}, headers=auth(ADMIN)
            )
            assert made.status == 201
            assert (await operator.get("/v1/admin/keys", headers=auth("guess"))).status == 401
            assert (await operator.get("/readyz")).status == 200
            assert (await operator.get("/metrics")).status == 200
            # The public API is not on the ops listener: 404 for any key or none, never a 500.
            for path in ("/v1/images", "/v1/images/abc", "/v1/albums", "/v1/nothing", "/v1/"):
                for headers in (auth(ADMIN), auth(key), auth("guess"), {}):
                    answer = await operator.get(path, headers=headers)
                    assert answer.status == 404, (path, headers, answer.status)
            posted = await operator.post("/v1/images", data=b"x", headers=auth(key))
            assert posted.status == 404
