"""``gallery worker``: every lane of the job registry and the sweepers in one process.

Wiring only: :func:`pipeline.jobs.registry.job_lanes` declares the lanes; here each gets its
handler (render and backfill: :class:`pipeline.services.render.RenderService`, cleanup:
:class:`pipeline.services.delete.CleanupService`). A lane without a handler stops the worker
at start. Render and backfill share the render slots, render first; the video lane has
render processes of its own (``GALLERY_JOBS_VIDEO_SLOTS``, 0: none, the lane is left to other
workers), so a transcode never holds a photo's slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from pipeline.adapters.consumer import LaneConsumer, SlotPool
from pipeline.bootstrap import (
    Backends,
    cleanup_service,
    delete_service,
    open_backends_patiently,
    render_service,
    upload_service,
)
from pipeline.domain import names
from pipeline.imaging import vips
from pipeline.imaging.render import check_capabilities
from pipeline.imaging.spec import RenditionSpec, parse_spec, parse_video_spec
from pipeline.imaging.video import VideoSpec, check_encoders
from pipeline.jobs.registry import BoundLane, Handler, bind, render_slots, worker_lanes
from pipeline.runtime.health import serve_ops
from pipeline.runtime.process import stop_on_signals
from pipeline.runtime.settings import Settings
from workers.sweeper import run_sweeper, run_trash_sweeper, run_upload_sweeper

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    spec = parse_spec(settings.renditions)
    vips.set_threads(settings.worker.vips_concurrency)
    check_capabilities(spec)
    check_encoders(VideoSpec.from_spec(parse_video_spec(settings.renditions)))
    # Started before its NATS (a bare `gallery worker`, a pod before the bus): wait for it.
    async with open_backends_patiently(settings, name="gallery-worker", stop=stop) as backends:
        if backends is not None:
            await _serve(settings, backends, spec, stop)
    log.info("worker stopped")


async def _serve(
    settings: Settings, backends: Backends, spec: Sequence[RenditionSpec], stop: asyncio.Event
) -> None:
    slots, video_slots = render_slots(settings), settings.jobs.video_slots
    async with contextlib.AsyncExitStack() as stack:
        # One render process per render slot: backfill jobs run in the same slots.
        service = await stack.enter_async_context(
            render_service(backends, settings, spec, slots=slots)
        )
        await stack.enter_async_context(serve_ops(settings.metrics, backends.readiness_checks()))
        handlers: dict[str, Handler[Any]] = {
            names.RENDER_CONSUMER: service.handle,
            names.BACKFILL_CONSUMER: service.handle,
            names.CLEANUP_CONSUMER: cleanup_service(backends).handle,
        }
        handbacks = [service.handbacks.run(stop)]
        if video_slots > 0:
            # Processes of their own: a transcode never waits for, nor holds, a photo's.
            videos = await stack.enter_async_context(
                render_service(backends, settings, spec, slots=video_slots)
            )
            handlers[names.VIDEO_CONSUMER] = videos.handle
            handbacks.append(videos.handbacks.run(stop))
        lanes = _consumers(settings, backends, bind(worker_lanes(settings), handlers))
        log.info(
            "worker ready: %d render slots, %d video slots, lanes %s, spec %s",
            slots,
            video_slots,
            ", ".join(lane.name for lane in worker_lanes(settings)),
            ", ".join(f"{s.name}-{s.spec_hash}" for s in spec),
        )
        await asyncio.gather(
            *(lane.run(stop) for lane in lanes),
            run_sweeper(backends.bus, backends.catalog, settings.sweeper, stop),
            run_upload_sweeper(upload_service(backends, settings), settings.tus, stop),
            run_trash_sweeper(delete_service(backends), settings.trash, stop),
            # Leases a catalog outage kept this worker from handing back (not crashes).
            *handbacks,
        )


def _consumers(
    settings: Settings, backends: Backends, bound: Sequence[BoundLane[Any]]
) -> list[LaneConsumer[Any]]:
    """One consumer per lane; lanes naming the same slot pool share it by priority."""
    pools: dict[str, SlotPool] = {}
    for one in bound:
        pool = pools.setdefault(one.lane.pool, SlotPool(capacity=0))
        pool.capacity = max(pool.capacity, one.lane.slots)
    return [
        LaneConsumer(
            backends.bus,
            one,
            pools[one.lane.pool],
            drain_timeout=settings.worker.drain_timeout_seconds,
            ahead=[
                other.lane
                for other in bound
                if other.lane.pool == one.lane.pool and other.lane.priority < one.lane.priority
            ],
        )
        for one in bound
    ]
