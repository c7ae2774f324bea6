"""The render backlog gauge: what autoscaling and the backlog alert read.

Since the per-tenant fairness cap, the render stream holds at most
``GALLERY_JOBS_TENANT_QUEUED`` jobs per tenant share and the rest of a tenant's import waits
in the catalog, so the consumers' pending counts (KEDA's ``nats-jetstream`` trigger) stop at
the cap: one tenant importing 10,000 photos looked like 6 jobs. The catalog's ``queued``
count is the whole backlog; this service publishes it per lane as
``gallery_render_backlog{lane}``.

The gateway runs :func:`run_backlog_gauge`, not the workers: the gauge must exist when
there are no workers (KEDA scales them from it, and the alert must fire when none run).
Every gateway replica exports the same count, so readers take ``max``, never ``sum``.
"""

from __future__ import annotations

import asyncio
import logging

from pipeline.domain import names
from pipeline.domain.errors import DependencyError
from pipeline.runtime import metrics
from pipeline.runtime.process import wait_or_stop
from pipeline.services.ports import Backlog

log = logging.getLogger(__name__)

#: The lane whose jobs render an image of each media kind (pipeline.jobs.registry).
LANE_OF_MEDIA = {"photo": names.RENDER_CONSUMER, "video": names.VIDEO_CONSUMER}


async def measure_backlog(backlog: Backlog) -> dict[str, int]:
    """Queued images per lane (``{"render": n, "video": m}``), and set the gauge to them.
    Raises CatalogError (the gauge keeps its last values)."""
    counts = await backlog.queued_by_media()
    lanes = {lane: counts.get(media, 0) for media, lane in LANE_OF_MEDIA.items()}
    for lane, count in lanes.items():
        metrics.RENDER_BACKLOG.labels(lane=lane).set(count)
    return lanes


async def run_backlog_gauge(backlog: Backlog, interval_seconds: float, stop: asyncio.Event) -> None:
    """Measure the backlog every ``interval_seconds`` until ``stop`` (0: never)."""
    if interval_seconds <= 0:
        return
    while not stop.is_set():
        try:
            await measure_backlog(backlog)
        except DependencyError as exc:
            # The last values stay: a short catalog outage neither scales in nor resolves.
            log.warning("render backlog count failed, will retry: %s", exc)
        await wait_or_stop(stop, interval_seconds)
