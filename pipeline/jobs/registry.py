"""The job registry: every lane declared once, with everything that differs between lanes.

A lane is one durable pull consumer over one subject of the jobs stream, one message type, its
consumer limits, its retry rules and the worker slots it may use. The workers
(:mod:`workers.main`), the stream and consumer declarations
(:func:`pipeline.adapters.bus.consumer_configs`) and the NACK manifests in ``deploy/``
(:mod:`pipeline.jobs.manifests`) are all built from :func:`job_lanes`. A new lane
is one more entry here plus a handler passed to :func:`bind`; a lane left without a
handler stops the worker at start.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pipeline.domain import names
from pipeline.domain.errors import ConfigurationError
from pipeline.domain.messages import CleanupJob, RenderJob
from pipeline.domain.outcomes import Delivery, Outcome
from pipeline.runtime.settings import Settings

J = TypeVar("J", RenderJob, CleanupJob)


@dataclass(frozen=True)
class Lane(Generic[J]):
    """One lane of jobs.

    ``max_deliver`` <= 0: unlimited deliveries. ``slots``: jobs of this lane one worker
    process runs at once. ``priority``: lanes share the worker's slots, and a lower number
    is served first (a higher one only takes a slot the lower ones found no work for).
    ``pool``: lanes naming the same pool share its slots (as many as the largest ``slots``).
    ``swept``: the outbox sweeper republishes the lane's unfinished images, so a job out of
    deliveries leaves its image to the sweeper instead of dead-lettering it.
    """

    name: str
    stream: str
    subject: str
    message: type[J]
    description: str
    max_ack_pending: int
    max_deliver: int
    ack_wait_seconds: float
    backoff_base_seconds: float
    backoff_max_seconds: float
    slots: int
    fetch_batch: int
    priority: int
    pool: str
    swept: bool = False

    @property
    def consumer(self) -> str:
        """The durable consumer's name (the lane's name)."""
        return self.name


Handler = Callable[[Delivery[J]], Awaitable[Outcome]]


@dataclass(frozen=True)
class BoundLane(Generic[J]):
    """A lane with the handler a worker runs its jobs through."""

    lane: Lane[J]
    handler: Handler[J]


def render_slots(settings: Settings) -> int:
    """Parallel render jobs of one worker process (``GALLERY_WORKER_CONCURRENCY``, 0 = CPUs)."""
    return settings.worker.concurrency or os.cpu_count() or 1


def job_lanes(settings: Settings) -> tuple[Lane[Any], ...]:
    """Every lane of the jobs stream, in priority order (render first).

    Every lane is declared on the bus; a worker consumes those of :func:`worker_lanes`."""
    nats, jobs = settings.nats, settings.jobs
    slots = render_slots(settings)
    return (
        Lane(
            name=names.RENDER_CONSUMER,
            # Per-tenant subjects, each capped (fairness: docs/architecture.md).
            stream=names.RENDER_STREAM,
            subject=names.RENDER_SUBJECTS,
            message=RenderJob,
            description="Render lane for new uploads",
            max_ack_pending=jobs.render_max_ack_pending,
            max_deliver=nats.max_deliver,
            slots=slots,
            fetch_batch=settings.worker.fetch_batch,
            priority=0,
            pool="render",
            swept=True,
            ack_wait_seconds=nats.ack_wait_seconds,
            backoff_base_seconds=nats.backoff_base_seconds,
            backoff_max_seconds=nats.backoff_max_seconds,
        ),
        Lane(
            name=names.VIDEO_CONSUMER,
            # The render stream's per-tenant shares (same fairness), video subjects only.
            stream=names.RENDER_STREAM,
            subject=names.VIDEO_SUBJECTS,
            message=RenderJob,
            description="Video lane (transcodes); slots of its own, never a photo's",
            max_ack_pending=jobs.video_max_ack_pending,
            max_deliver=nats.max_deliver,
            # A worker without video slots does not consume the lane: its jobs wait, pending.
            slots=jobs.video_slots,
            fetch_batch=1,
            priority=0,
            pool="video",
            # As render: a job out of deliveries leaves its image to the sweeper, and the
            # sweeper republishes to this lane (by the image's media), never dead-letters.
            swept=True,
            ack_wait_seconds=nats.ack_wait_seconds,
            backoff_base_seconds=nats.backoff_base_seconds,
            backoff_max_seconds=nats.backoff_max_seconds,
        ),
        Lane(
            name=names.BACKFILL_CONSUMER,
            stream=names.JOBS_STREAM,
            subject=names.BACKFILL_SUBJECT,
            message=RenderJob,
            description="Backfill lane (re-renders); runs only in render slots left idle",
            max_ack_pending=jobs.backfill_max_ack_pending,
            max_deliver=nats.max_deliver,
            # The render slots, taken only when the render lane has no job for them.
            slots=slots,
            fetch_batch=1,
            priority=1,
            pool="render",
            ack_wait_seconds=nats.ack_wait_seconds,
            backoff_base_seconds=nats.backoff_base_seconds,
            backoff_max_seconds=nats.backoff_max_seconds,
        ),
        Lane(
            name=names.CLEANUP_CONSUMER,
            stream=names.JOBS_STREAM,
            subject=names.CLEANUP_SUBJECT,
            message=CleanupJob,
            description="Cleanup lane (objects of deleted images); retried until the store answers",
            max_ack_pending=jobs.cleanup_max_ack_pending,
            # Losing a cleanup job would leave its objects behind until reconcile's minimum age.
            max_deliver=-1,
            slots=jobs.cleanup_slots,
            fetch_batch=jobs.cleanup_slots,
            priority=0,
            pool="cleanup",
            ack_wait_seconds=nats.ack_wait_seconds,
            backoff_base_seconds=nats.backoff_base_seconds,
            backoff_max_seconds=nats.backoff_max_seconds,
        ),
    )


def worker_lanes(settings: Settings) -> tuple[Lane[Any], ...]:
    """The lanes one worker consumes: every lane with slots (``GALLERY_JOBS_VIDEO_SLOTS=0``
    leaves the video lane to other workers; its jobs wait for one, never fail)."""
    return tuple(lane for lane in job_lanes(settings) if lane.slots > 0)


def bind(lanes: Sequence[Lane[Any]], handlers: Mapping[str, Handler[Any]]) -> list[BoundLane[Any]]:
    """Pair each lane with its handler; ConfigurationError names a lane without one (or a
    handler without a lane), so a worker never starts with a lane nobody consumes."""
    declared = {lane.name for lane in lanes}
    missing = sorted(declared - set(handlers))
    unknown = sorted(set(handlers) - declared)
    if missing or unknown:
        raise ConfigurationError(
            "job lanes and handlers differ: "
            + "; ".join(
                part
                for part in (
                    f"no handler for lane(s) {', '.join(missing)}" if missing else "",
                    f"no lane for handler(s) {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
        )
    return [BoundLane(lane, handlers[lane.name]) for lane in lanes]
