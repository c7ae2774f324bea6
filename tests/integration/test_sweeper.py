"""The outbox: an image recorded but never published still gets its render job."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline.adapters.bus import JetStreamBus
from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain import names
from pipeline.domain.messages import utcnow
from pipeline.domain.models import ImageRecord, new_image_id
from pipeline.runtime.settings import SweeperSettings
from pipeline.services.outbox import republish_stuck
from tests.conftest import SettingsFactory

pytestmark = pytest.mark.integration
AN_HOUR_AGO = utcnow() - timedelta(hours=1)


async def test_sweeper_republishes_stale_queued_images_once(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    async with (
        JetStreamBus.connect(settings.nats) as bus,
        MongoCatalog.connect(settings.mongo) as catalog,
    ):
        await bus.declare()
        await catalog.ensure_indexes()
        image_id = new_image_id()
        # What a gateway that crashed between insert and publish leaves behind.
        await catalog.insert_image(
            ImageRecord(
                id=image_id,
                tenant="alice",
                status="queued",
                sha256="s",
                content_type="image/jpeg",
                bytes=1,
                width=1,
                height=1,
                original_key=f"originals/alice/{image_id}",
                created_at=AN_HOUR_AGO,
                updated_at=AN_HOUR_AGO,
            )
        )
        sweeper = SweeperSettings(stale_after_seconds=60)
        assert await republish_stuck(bus, catalog, sweeper) == 1
        assert await republish_stuck(bus, catalog, sweeper) == 0, "republishing restarts the clock"
        # Another worker's sweeper saw the same stale state: the bus keeps one job.
        await catalog.images.update_one({"_id": image_id}, {"$set": {"updated_at": AN_HOUR_AGO}})
        assert await republish_stuck(bus, catalog, sweeper) == 1
        info = await bus.js.consumer_info(names.RENDER_STREAM, names.RENDER_CONSUMER)
        assert info.num_pending == 1


async def test_a_sweep_reads_stale_images_in_batches_up_to_its_most(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings()
    async with (
        JetStreamBus.connect(settings.nats) as bus,
        MongoCatalog.connect(settings.mongo) as catalog,
    ):
        await bus.declare()
        await catalog.ensure_indexes()
        for n in range(7):  # what an outage during an import leaves behind
            image_id = new_image_id()
            await catalog.insert_image(
                ImageRecord(
                    id=image_id,
                    tenant="alice",
                    status="queued",
                    sha256=f"s{n}",
                    content_type="image/jpeg",
                    bytes=1,
                    width=1,
                    height=1,
                    original_key=f"originals/alice/{image_id}",
                    updated_at=AN_HOUR_AGO,
                )
            )
        sweeper = SweeperSettings(stale_after_seconds=60, batch_size=2, max_per_pass=5)
        assert await republish_stuck(bus, catalog, sweeper) == 5, "batches of 2, 2, 1"
        assert await republish_stuck(bus, catalog, sweeper) == 2, "the next sweep: the rest"
        assert await republish_stuck(bus, catalog, sweeper) == 0
        # The tenant's share of the render stream took jobs; the rest wait in the catalog
        # (touched: the tenant's next finished render publishes them).
        info = await bus.js.consumer_info(names.RENDER_STREAM, names.RENDER_CONSUMER)
        assert info.num_pending == settings.jobs.tenant_queued
