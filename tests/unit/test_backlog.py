"""The render backlog gauge over a fake catalog: lanes by media, the interval setting, and a
catalog outage that keeps the last values instead of reporting an empty backlog."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from pipeline.domain import names
from pipeline.domain.errors import CatalogError
from pipeline.domain.models import ImageRecord, Status, new_image_id
from pipeline.services.backlog import measure_backlog, run_backlog_gauge
from tests.fakes import FakeBacklog, FakeCatalog

pytestmark = pytest.mark.unit


def image(status: Status, content_type: str = "image/jpeg") -> ImageRecord:
    image_id = new_image_id()
    return ImageRecord(
        id=image_id,
        tenant="importer",
        status=status,
        sha256=image_id,
        content_type=content_type,
        bytes=1,
        width=1,
        height=1,
        original_key=f"originals/importer/{image_id}",
    )


def gauge(lane: str) -> float | None:
    return REGISTRY.get_sample_value("gallery_render_backlog", {"lane": lane})


async def catalog_with(*records: ImageRecord) -> FakeCatalog:
    catalog = FakeCatalog()
    for record in records:
        await catalog.insert_image(record)
    return catalog


async def test_queued_images_are_counted_in_their_media_lane() -> None:
    catalog = await catalog_with(
        *(image("queued") for _ in range(5)),
        image("queued", "video/quicktime"),
        image("processing"),
        image("ready"),
        image("failed", "video/mp4"),
    )
    lanes = await measure_backlog(FakeBacklog(catalog))
    assert lanes == {names.RENDER_CONSUMER: 5, names.VIDEO_CONSUMER: 1}
    assert (gauge(names.RENDER_CONSUMER), gauge(names.VIDEO_CONSUMER)) == (5, 1)


class FlakyBacklog:
    """Answers ``counts`` in turn; ``None`` stands for a catalog outage."""

    def __init__(self, *counts: dict[str, int] | None) -> None:
        self.counts = list(counts)
        self.calls = 0
        self.drained = asyncio.Event()

    async def queued_by_media(self) -> dict[str, int]:
        self.calls += 1
        answer = self.counts.pop(0) if self.counts else None
        if not self.counts:
            self.drained.set()
        if answer is None:
            raise CatalogError("catalog: cannot count queued images: down")
        return answer


async def test_an_outage_keeps_the_last_values_and_the_loop_goes_on() -> None:
    backlog = FlakyBacklog({"photo": 40, "video": 0}, None, {"photo": 41, "video": 2}, None)
    stop = asyncio.Event()
    task = asyncio.create_task(run_backlog_gauge(backlog, 0.01, stop))
    await asyncio.wait_for(backlog.drained.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    # The last answer was an outage: the gauge still says what the catalog last said.
    assert (gauge(names.RENDER_CONSUMER), gauge(names.VIDEO_CONSUMER)) == (41, 2)


async def test_an_interval_of_zero_never_counts() -> None:
    backlog = FlakyBacklog({"photo": 7, "video": 7})
    await asyncio.wait_for(run_backlog_gauge(backlog, 0, asyncio.Event()), 5)
    assert backlog.calls == 0
