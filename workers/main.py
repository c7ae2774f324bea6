"""``gallery worker``: the render and backfill lanes and the outbox sweeper in one process.

Wiring only: both lanes hand each delivery to :class:`pipeline.services.render.RenderService`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from pipeline.adapters.consumer import JobConsumer
from pipeline.bootstrap import Backends, open_backends, render_service
from pipeline.domain import names
from pipeline.imaging.render import check_capabilities
from pipeline.imaging.spec import RenditionSpec, parse_spec
from pipeline.runtime.health import serve_ops
from pipeline.runtime.process import stop_on_signals
from pipeline.runtime.settings import Settings
from workers.sweeper import run_sweeper

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    spec = parse_spec(settings.renditions)
    check_capabilities(spec)
    async with (
        open_backends(settings, name="gallery-worker") as backends,
        serve_ops(settings.metrics, backends.readiness_checks()),
    ):
        render_lane, backfill_lane = _lanes(settings, backends, spec)
        await asyncio.gather(
            render_lane.run(stop),
            backfill_lane.run(stop),
            run_sweeper(backends.bus, backends.catalog, settings.sweeper, stop),
        )
    log.info("worker stopped")


def _lanes(
    settings: Settings, backends: Backends, spec: Sequence[RenditionSpec]
) -> tuple[JobConsumer, JobConsumer]:
    handler = render_service(backends, settings, spec).handle
    concurrency = settings.worker.concurrency or os.cpu_count() or 1
    drain = settings.worker.drain_timeout_seconds
    render_lane = JobConsumer(
        backends.bus,
        names.RENDER_CONSUMER,
        handler,
        concurrency=concurrency,
        fetch_batch=settings.worker.fetch_batch,
        drain_timeout=drain,
    )
    # One backfill slot per process on top of the render slots: re-renders trickle
    # through while uploads keep their full concurrency (the backfill consumer also
    # caps unacknowledged jobs cluster-wide).
    backfill_lane = JobConsumer(
        backends.bus,
        names.BACKFILL_CONSUMER,
        handler,
        concurrency=1,
        fetch_batch=1,
        drain_timeout=drain,
    )
    log.info(
        "worker ready: concurrency %d, spec %s",
        concurrency,
        ", ".join(f"{s.name}-{s.spec_hash}" for s in spec),
    )
    return render_lane, backfill_lane
