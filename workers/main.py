"""``gallery worker``: the render, backfill and cleanup lanes and the sweepers in one process.

Wiring only: the render and backfill lanes hand each delivery to
:class:`pipeline.services.render.RenderService`, the cleanup lane to
:class:`pipeline.services.delete.CleanupService`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from pipeline.adapters.consumer import CleanupConsumer, JobConsumer
from pipeline.bootstrap import (
    Backends,
    cleanup_service,
    delete_service,
    open_backends_patiently,
    render_service,
    upload_service,
)
from pipeline.domain import names
from pipeline.domain.outcomes import Handler
from pipeline.imaging import vips
from pipeline.imaging.render import check_capabilities
from pipeline.imaging.spec import RenditionSpec, parse_spec
from pipeline.runtime.health import serve_ops
from pipeline.runtime.process import stop_on_signals
from pipeline.runtime.settings import Settings
from workers.sweeper import run_sweeper, run_trash_sweeper, run_upload_sweeper

log = logging.getLogger(__name__)
# Cleanup jobs are a few deletes each (I/O, no CPU): a few slots keep up with bulk deletes.
CLEANUP_SLOTS = 4


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    spec = parse_spec(settings.renditions)
    vips.set_threads(settings.worker.vips_concurrency)
    check_capabilities(spec)
    # Started before its NATS (a bare `gallery worker`, a pod before the bus): wait for it.
    async with open_backends_patiently(settings, name="gallery-worker", stop=stop) as backends:
        if backends is not None:
            await _serve(settings, backends, spec, stop)
    log.info("worker stopped")


async def _serve(
    settings: Settings, backends: Backends, spec: Sequence[RenditionSpec], stop: asyncio.Event
) -> None:
    concurrency = settings.worker.concurrency or os.cpu_count() or 1
    async with (
        # One render process per render slot plus the backfill lane's (see _lanes).
        render_service(backends, settings, spec, slots=concurrency + 1) as service,
        serve_ops(settings.metrics, backends.readiness_checks()),
    ):
        render_lane, backfill_lane = _lanes(settings, backends, service.handle, concurrency)
        cleanup_lane = CleanupConsumer(
            backends.bus,
            cleanup_service(backends).handle,
            concurrency=CLEANUP_SLOTS,
            drain_timeout=settings.worker.drain_timeout_seconds,
        )
        log.info(
            "worker ready: concurrency %d, spec %s",
            concurrency,
            ", ".join(f"{s.name}-{s.spec_hash}" for s in spec),
        )
        await asyncio.gather(
            render_lane.run(stop),
            backfill_lane.run(stop),
            cleanup_lane.run(stop),
            run_sweeper(backends.bus, backends.catalog, settings.sweeper, stop),
            run_upload_sweeper(upload_service(backends, settings), settings.tus, stop),
            run_trash_sweeper(delete_service(backends), settings.trash, stop),
            # Leases a catalog outage kept this worker from handing back (not crashes).
            service.handbacks.run(stop),
        )


def _lanes(
    settings: Settings, backends: Backends, handler: Handler, concurrency: int
) -> tuple[JobConsumer, JobConsumer]:
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
    return render_lane, backfill_lane
