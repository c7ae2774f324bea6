"""A spec change and ``gallery backfill``: only outdated images are re-rendered, on the
backfill lane, and the old renditions go away."""

from __future__ import annotations

import json

import pytest

from pipeline.adapters.storage import open_object_store
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

NEW_SPEC = json.dumps(
    [
        {
            "name": "thumb",
            "width": 128,
            "height": 128,
            "crop": "attention",
            "format": "webp",
            "quality": 70,
        },
        {"name": "preview", "width": 1280, "height": 1280, "format": "webp", "quality": 80},
    ]
)


async def test_backfill_rerenders_only_outdated_images(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    stack = await start_stack(make_settings(), workers=1)
    api = await api_for(stack, "alice")
    _, doc = await api.upload(jpeg_bytes(2000, 1500, seed=31))
    before = await api.wait_status(doc["id"], {"ready", "failed"})
    assert sorted(before["renditions"]) == ["large", "preview", "thumb"]

    dry = stack.cli("backfill", "--dry-run")
    assert "0 image(s) would be queued" in dry.stderr, "nothing is outdated under the same spec"

    # The operator changes the spec: workers restart with it, then the backfill runs.
    stack.kill_worker(0)
    new_env = {"GALLERY_RENDITIONS": NEW_SPEC}
    stack.add_worker(new_env)
    planned = stack.cli_with(new_env, "backfill")
    assert planned.returncode == 0, planned.stderr
    assert "1 image(s) queued on the backfill lane" in planned.stderr

    current = await api.wait_until(
        doc["id"], lambda d: d["renditions"].get("thumb", {}).get("width") == 128
    )
    assert current["status"] == "ready"
    assert current["ready_at"] == before["ready_at"], "the photo stayed ready throughout"
    assert sorted(current["renditions"]) == ["preview", "thumb"]
    async with open_object_store(stack.settings) as store:
        keys = await store.list_keys(f"renditions/alice/{doc['id']}/")
    assert sorted(k.rsplit("/", 1)[1].split("-")[0] for k in keys) == ["preview", "thumb"]
    again = stack.cli_with(new_env, "backfill", "--dry-run")
    assert "0 image(s) would be queued" in again.stderr
