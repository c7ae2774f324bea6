"""An operator's view of failures: failed images land in the dead letters, and a redrive
after fixing the cause makes them ready."""

from __future__ import annotations

import pytest

from pipeline.runtime.settings import LimitsSettings
from tests.conftest import SettingsFactory
from tests.e2e.conftest import StackFactory
from tests.images import jpeg_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def test_failed_render_is_dead_lettered_and_redriven_after_the_fix(
    make_settings: SettingsFactory, start_stack: StackFactory, api_for
) -> None:
    # A render deadline far too tight for a 24 MP photo: the operator's mistake to fix.
    tight = make_settings(limits=LimitsSettings(render_timeout_seconds=0.001))
    stack = await start_stack(tight, workers=1)
    api = await api_for(stack, "alice")
    _, doc = await api.upload(jpeg_bytes(6000, 4000, seed=11))
    failed = await api.wait_status(doc["id"], {"ready", "failed"})
    assert failed["status"] == "failed"
    assert "render_timeout" in failed["failure"]

    listed = stack.cli("dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert f"alice/{doc['id']}" in listed.stdout
    assert "1 dead letter(s) listed" in listed.stderr

    stack.kill_worker(0)
    stack.add_worker({"GALLERY_LIMITS_RENDER_TIMEOUT_SECONDS": "120"})
    redriven = stack.cli("dlq", "redrive")
    assert redriven.returncode == 0, redriven.stderr
    assert "1 dead letter(s) redriven" in redriven.stderr
    ready = await api.wait_status(doc["id"], {"ready", "failed"})
    assert ready["status"] == "ready", ready
    assert stack.cli("dlq", "list").stderr.strip().endswith("0 dead letter(s) listed")
