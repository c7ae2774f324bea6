"""The job registry: every lane declared once; a worker does not start with a lane unhandled."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.adapters.bus import consumer_configs
from pipeline.domain import names
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.messages import RenderJob
from pipeline.domain.outcomes import Ack, Delivery, Outcome
from pipeline.jobs.registry import bind, job_lanes, worker_lanes
from pipeline.runtime.settings import JobsSettings, NatsSettings, Settings, WorkerSettings

pytestmark = pytest.mark.unit


async def done(_delivery: Delivery[Any]) -> Outcome:
    return Ack()


def test_a_lane_without_a_handler_stops_the_worker_at_start() -> None:
    lanes = job_lanes(Settings())
    handlers = {names.RENDER_CONSUMER: done, names.CLEANUP_CONSUMER: done}
    with pytest.raises(ConfigurationError, match="no handler for lane\\(s\\) backfill"):
        bind(lanes, handlers)


def test_a_handler_without_a_lane_is_refused_too() -> None:
    handlers = {lane.name: done for lane in job_lanes(Settings())} | {"audio": done}
    with pytest.raises(ConfigurationError, match="no lane for handler\\(s\\) audio"):
        bind(job_lanes(Settings()), handlers)


def test_the_consumers_come_from_the_lanes_and_their_settings() -> None:
    settings = Settings(
        nats=NatsSettings(max_deliver=4, ack_wait_seconds=12.0),
        worker=WorkerSettings(concurrency=3),
        jobs=JobsSettings(backfill_max_ack_pending=2, cleanup_slots=5),
    )
    lanes = {lane.name: lane for lane in job_lanes(settings)}
    assert set(lanes) == {
        names.RENDER_CONSUMER,
        names.VIDEO_CONSUMER,
        names.BACKFILL_CONSUMER,
        names.CLEANUP_CONSUMER,
    }
    configs = {c.durable_name: c for c in consumer_configs(list(lanes.values()))}
    assert configs["render"].max_deliver == 4
    assert configs["render"].ack_wait == 12.0
    assert configs["backfill"].max_ack_pending == 2
    assert configs["cleanup"].max_deliver == -1, "retried until the store answers"
    assert lanes["render"].slots == 3
    assert lanes["backfill"].pool == lanes["render"].pool, "backfill only in idle render slots"
    assert lanes["backfill"].priority > lanes["render"].priority
    assert lanes["cleanup"].slots == 5


def test_the_video_lane_has_its_own_consumer_subjects_and_slots() -> None:
    settings = Settings(jobs=JobsSettings(video_slots=2, video_max_ack_pending=7))
    lanes = {lane.name: lane for lane in job_lanes(settings)}
    video, render = lanes["video"], lanes["render"]
    assert video.stream == render.stream, "the same per-tenant shares (fairness)"
    assert video.subject == "gallery.job.video.>"
    assert render.subject == "gallery.job.render.>"
    assert video.pool != render.pool, "a transcode never holds a photo's slot"
    assert video.slots == 2
    assert video.swept, "a video out of deliveries goes back to the sweeper, not the DLQ"
    config = {c.durable_name: c for c in consumer_configs(list(lanes.values()))}["video"]
    assert config.max_ack_pending == 7
    assert config.filter_subject == "gallery.job.video.>"


def test_the_video_lane_defaults_to_one_slot() -> None:
    assert {lane.name: lane for lane in job_lanes(Settings())}["video"].slots == 1


def test_a_worker_without_video_slots_leaves_the_lane_to_others() -> None:
    settings = Settings(jobs=JobsSettings(video_slots=0))
    assert "video" in {lane.name for lane in job_lanes(settings)}, "still declared on the bus"
    assert "video" not in {lane.name for lane in worker_lanes(settings)}
    handlers = {lane.name: done for lane in worker_lanes(settings)}
    assert [b.lane.name for b in bind(worker_lanes(settings), handlers)] == [
        "render",
        "backfill",
        "cleanup",
    ]


def _job(media: str, reason: str = "upload") -> RenderJob:
    return RenderJob.model_validate(
        {
            "image_id": "01IMG",
            "tenant": "acme",
            "original_key": "originals/acme/01IMG",
            "uploaded_at": "2026-01-01T00:00:00Z",
            "media": media,
            "reason": reason,
        }
    )


def test_a_video_job_goes_to_the_tenants_video_subject() -> None:
    token = names.tenant_token("acme")
    for media, lane in (("photo", "render"), ("video", "video")):
        job = _job(media)
        subject = names.render_subject(job.tenant, job.image_id, media=job.media)
        assert subject == f"gallery.job.{lane}.{token}.0"


def test_a_job_published_before_the_media_field_is_a_photo() -> None:
    old = _job("photo").model_dump(mode="json")
    del old["media"], old["duration_seconds"]
    assert RenderJob.model_validate(old).media == "photo"


@pytest.mark.parametrize(
    ("duration", "budget"),
    [(None, 60.0), (0.0, 60.0), (10.0, 80.0), (600.0, 1260.0), (100_000.0, 14_400.0)],
)
def test_a_videos_deadline_grows_with_its_duration_up_to_the_cap(
    duration: float | None, budget: float
) -> None:
    assert JobsSettings().video_timeout_seconds(duration) == budget


def test_the_video_deadline_settings_are_read() -> None:
    jobs = JobsSettings(
        video_timeout_base_seconds=5,
        video_timeout_per_video_second=0.5,
        video_timeout_max_seconds=30,
    )
    assert jobs.video_timeout_seconds(20.0) == 15.0
    assert jobs.video_timeout_seconds(1000.0) == 30.0
