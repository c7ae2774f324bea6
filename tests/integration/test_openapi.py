"""``/openapi.json`` is served without a key, and the event stream (which schemathesis skips,
being endless: tests/e2e/test_openapi.py) answers with the statuses and content types the
document gives it, read with a deadline."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.openapi import document
from tests.conftest import SettingsFactory
from tests.integration.test_gateway import auth, gateway_client

pytestmark = pytest.mark.integration


async def test_openapi_json_needs_no_key_and_is_the_document(
    make_settings: SettingsFactory,
) -> None:
    async with gateway_client(make_settings()) as (client, _):
        response = await client.get("/openapi.json")
        assert response.status == 200
        assert await response.json() == json.loads(json.dumps(document()))


async def test_event_stream_answers_as_documented(make_settings: SettingsFactory) -> None:
    documented = json.loads(json.dumps(document()))["paths"]["/v1/events"]["get"]["responses"]
    async with gateway_client(make_settings()) as (client, key):
        response = await client.get("/v1/events", headers=auth(key))
        assert str(response.status) in documented
        assert response.content_type in documented[str(response.status)]["content"]
        first = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10.0)
        assert first.startswith(b": connected")
        response.close()
        for headers in ({}, auth(key) | {"Last-Event-ID": "not-an-id"}):
            refused = await client.get("/v1/events", headers=headers)
            assert str(refused.status) in documented, refused.status
            assert refused.content_type == "application/json"
            assert set((await refused.json())["error"]) == {"code", "message"}
