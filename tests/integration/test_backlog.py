"""The render backlog gauge against a real catalog and nats-server: one tenant's import beyond
its fairness cap is all counted, although the render consumer shows only the cap."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from gateway.app import make_app
from gateway.appkeys import BACKENDS
from pipeline.adapters.bus import JetStreamBus
from pipeline.adapters.catalog import MongoCatalog
from pipeline.domain import names
from pipeline.domain.models import ImageRecord, Status, new_image_id
from pipeline.jobs.registry import job_lanes
from pipeline.runtime.health import ops_app
from pipeline.runtime.settings import JobsSettings, MetricsSettings, Settings
from pipeline.services.backlog import measure_backlog
from tests.conftest import SettingsFactory
from tests.images import png_bytes
from tests.waiting import eventually

pytestmark = pytest.mark.integration

CAP = 3  # GALLERY_JOBS_TENANT_QUEUED
BEYOND = 200


def image(tenant: str, status: Status, content_type: str = "image/jpeg") -> ImageRecord:
    image_id = new_image_id()
    return ImageRecord(
        id=image_id,
        tenant=tenant,
        status=status,
        sha256=hashlib.sha256(image_id.encode()).hexdigest(),
        content_type=content_type,
        bytes=1000,
        width=4000,
        height=3000,
        original_key=f"originals/{tenant}/{image_id}",
    )


@pytest.fixture
async def backends(
    make_settings: SettingsFactory,
) -> AsyncIterator[tuple[MongoCatalog, JetStreamBus]]:
    settings = make_settings(jobs=JobsSettings(tenant_queued=CAP))
    async with (
        MongoCatalog.connect(settings.mongo) as catalog,
        JetStreamBus.connect(
            settings.nats, name="test", lanes=job_lanes(settings), jobs=settings.jobs
        ) as bus,
    ):
        await catalog.ensure_indexes()
        await bus.declare()
        yield catalog, bus


def gauge(lane: str) -> float | None:
    return REGISTRY.get_sample_value("gallery_render_backlog", {"lane": lane})


async def render_pending(bus: JetStreamBus) -> int:
    state = await bus.state()
    return sum(c.pending for c in state.consumers if c.name == names.RENDER_CONSUMER)


async def test_a_one_tenant_import_beyond_the_cap_is_reported_whole(
    backends: tuple[MongoCatalog, JetStreamBus],
) -> None:
    catalog, bus = backends
    # One tenant imports CAP + BEYOND photos: its jobs are published as ingest does, and the
    # stream takes CAP of them; the rest wait in the catalog (queued), held back.
    imported = [image("importer", "queued") for _ in range(CAP + BEYOND)]
    await catalog.insert_images("importer", imported)
    admitted = [await bus.publish_job(record.render_job()) for record in imported]
    assert admitted.count(True) == CAP
    # Also queued: two videos (their own lane). Not waiting: finished, failed, rendering now.
    videos = [image("importer", "queued", "video/mp4") for _ in range(2)]
    done = [image("importer", "ready"), image("importer", "failed")]
    await catalog.insert_images("importer", [*videos, *done])
    await catalog.insert_images("other", [image("other", "processing")])

    assert await render_pending(bus) == CAP, "KEDA's nats-jetstream trigger sees only the cap"
    assert await measure_backlog(catalog.backlog) == {
        names.RENDER_CONSUMER: CAP + BEYOND,
        names.VIDEO_CONSUMER: 2,
    }
    assert gauge(names.RENDER_CONSUMER) == CAP + BEYOND
    assert gauge(names.VIDEO_CONSUMER) == 2

    # A job claimed leaves the backlog; an image failed by an operator's redrive joins it again.
    first = imported[0]
    assert await catalog.claim("importer", first.id, owner="w", lease=timedelta(minutes=1))
    assert (await measure_backlog(catalog.backlog))[names.RENDER_CONSUMER] == CAP + BEYOND - 1
    assert await catalog.requeue("importer", done[1].id)
    assert (await measure_backlog(catalog.backlog))[names.RENDER_CONSUMER] == CAP + BEYOND


async def test_the_gateway_exports_the_backlog_of_its_uploads(
    make_settings: SettingsFactory,
) -> None:
    """No workers: every upload beyond the cap waits in the catalog, and the gateway's
    /metrics says how many (GALLERY_METRICS_BACKLOG_INTERVAL_SECONDS apart)."""
    settings: Settings = make_settings(
        jobs=JobsSettings(tenant_queued=2),
        metrics=MetricsSettings(port=0, backlog_interval_seconds=0.2),
    )
    uploads = 12
    async with TestClient(TestServer(make_app(settings))) as client:
        key = await client.app[BACKENDS].catalog.create_api_key("importer")
        for n in range(uploads):
            response = await client.post(
                "/v1/images",
                data=png_bytes(24, 16, seed=n),
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status == 202, await response.text()
        assert await render_pending(client.app[BACKENDS].bus) == 2
        async with TestClient(TestServer(ops_app({}))) as ops:

            async def exported() -> bool:
                text = await (await ops.get("/metrics")).text()
                return f'gallery_render_backlog{{lane="render"}} {float(uploads)}' in text

            await eventually(exported, f"the gateway exporting a render backlog of {uploads}")
