"""The job registry: every lane declared once; a worker does not start with a lane unhandled."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.adapters.bus import consumer_configs
from pipeline.domain import names
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.outcomes import Ack, Delivery, Outcome
from pipeline.jobs.registry import bind, job_lanes
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
    handlers = {lane.name: done for lane in job_lanes(Settings())} | {"video": done}
    with pytest.raises(ConfigurationError, match="no lane for handler\\(s\\) video"):
        bind(job_lanes(Settings()), handlers)


def test_the_consumers_come_from_the_lanes_and_their_settings() -> None:
    settings = Settings(
        nats=NatsSettings(max_deliver=4, ack_wait_seconds=12.0),
        worker=WorkerSettings(concurrency=3),
        jobs=JobsSettings(backfill_max_ack_pending=2, cleanup_slots=5),
    )
    lanes = {lane.name: lane for lane in job_lanes(settings)}
    assert set(lanes) == {names.RENDER_CONSUMER, names.BACKFILL_CONSUMER, names.CLEANUP_CONSUMER}
    configs = {c.durable_name: c for c in consumer_configs(list(lanes.values()))}
    assert configs["render"].max_deliver == 4
    assert configs["render"].ack_wait == 12.0
    assert configs["backfill"].max_ack_pending == 2
    assert configs["cleanup"].max_deliver == -1, "retried until the store answers"
    assert lanes["render"].slots == 3
    assert lanes["backfill"].pool == lanes["render"].pool, "backfill only in idle render slots"
    assert lanes["backfill"].priority > lanes["render"].priority
    assert lanes["cleanup"].slots == 5
