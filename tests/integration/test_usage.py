"""``GET /v1/usage`` on the real catalog: photos and bytes in the gallery and in the trash,
and the quota that counts both."""

from __future__ import annotations

import pytest

from gateway.appkeys import BACKENDS
from pipeline.domain.models import Rendition
from pipeline.runtime.settings import QuotaSettings
from tests.conftest import SettingsFactory
from tests.integration.test_albums import Tenant
from tests.integration.test_gateway import gateway_client

pytestmark = pytest.mark.integration


async def test_usage_counts_the_gallery_the_trash_and_the_renditions(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(quota=QuotaSettings(max_images=10))
    async with gateway_client(settings) as (client, key):
        alice = Tenant(client, key)
        assert (await alice.call("GET", "/v1/usage"))[1]["photos"] == 0
        photos = [await alice.upload(seed) for seed in range(3)]
        catalog = client.app[BACKENDS].catalog
        thumb = Rendition(
            name="thumb", key="r/x", width=1, height=1, content_type="image/webp", bytes=700,
            spec_hash="s",
        )  # fmt: skip
        # As a finished render records it (the worker is not part of this test).
        await catalog.images.update_one(
            {"_id": photos[0]}, {"$set": {"renditions": {"thumb": thumb.model_dump()}}}
        )
        assert (await alice.call("DELETE", f"/v1/images/{photos[2]}"))[0] == 204
        code, usage = await alice.call("GET", "/v1/usage")
        assert code == 200
        sizes = {}
        for photo in photos:
            record = await catalog.get_image("alice", photo)
            assert record is not None
            sizes[photo] = record.bytes
        assert usage["photos"] == 2
        assert usage["bytes"] == {
            "originals": sizes[photos[0]] + sizes[photos[1]],
            "renditions": 700,
            "total": sizes[photos[0]] + sizes[photos[1]] + 700,
        }
        assert usage["trash"]["photos"] == 1
        assert usage["trash"]["bytes"]["originals"] == sizes[photos[2]]
        assert usage["quota"]["max_images"] == 10
        assert usage["quota"]["max_bytes"] is None
        assert usage["quota"]["counted_images"] == 3, "the trash counts until purged"
