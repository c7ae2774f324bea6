"""The composition root: build the adapters from the settings and hand them to entry points.

``open_backends`` is the one place that connects to the bus, the catalog and the object
store, declares what the pipeline needs (streams, indexes, the bucket check) and closes all
of it on exit. Entry points (``gateway``, ``workers``, the ``gallery`` command) call it and
build their services with the functions below; services never import this module: they
receive the backends through their ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.adapters.bus import JetStreamBus
from pipeline.adapters.catalog import MongoCatalog
from pipeline.adapters.storage import open_object_store
from pipeline.domain.errors import DependencyError
from pipeline.domain.objects import ObjectStore
from pipeline.imaging.spec import RenditionSpec, parse_video_spec
from pipeline.imaging.video import VideoSpec, video_hashes
from pipeline.jobs.registry import job_lanes
from pipeline.runtime.health import ReadinessCheck
from pipeline.runtime.process import wait_or_stop
from pipeline.runtime.sandbox import SandboxLimits
from pipeline.runtime.settings import Settings
from pipeline.services.albums import AlbumService
from pipeline.services.delete import CleanupService, DeleteService
from pipeline.services.events import EventFeed
from pipeline.services.images import ImageQueries
from pipeline.services.ingest import IngestService
from pipeline.services.keys import KeyService
from pipeline.services.lease import lease_for
from pipeline.services.limits import UploadLimits
from pipeline.services.process_renderer import ProcessRenderer
from pipeline.services.quota import TenantQuota
from pipeline.services.reconcile import ReconcileService
from pipeline.services.render import RenderPolicy, RenderService, worker_identity
from pipeline.services.shares import ShareService
from pipeline.services.spool import Spool
from pipeline.services.tus import UploadService
from pipeline.services.walk import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backends:
    bus: JetStreamBus
    catalog: MongoCatalog
    store: ObjectStore

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """What ``/readyz`` asks: each backend answers, or names itself as the failure."""
        return {"bus": self.bus.check, "catalog": self.catalog.ping, "storage": self.store.check}


@contextlib.asynccontextmanager
async def open_backends(
    settings: Settings, *, name: str, wait_for_bus: bool = True
) -> AsyncIterator[Backends]:
    """Connect to bus, catalog and store, declare what the pipeline needs, and close all on exit.

    ``wait_for_bus``: keep trying a NATS that is not up yet (else raise :class:`BusError`).
    """
    async with contextlib.AsyncExitStack() as stack:
        bus = await stack.enter_async_context(
            JetStreamBus.connect(
                settings.nats,
                name=name,
                wait_at_start=wait_for_bus,
                lanes=job_lanes(settings),
                jobs=settings.jobs,
            )
        )
        catalog = await stack.enter_async_context(MongoCatalog.connect(settings.mongo))
        store = await stack.enter_async_context(open_object_store(settings))
        await bus.declare()
        await catalog.ensure_indexes()
        await store.check()
        log.info(
            "backends ready: nats=%s mongo db=%s storage=%s",
            settings.nats.url,
            settings.mongo.database,
            settings.storage.backend,
        )
        yield Backends(bus=bus, catalog=catalog, store=store)


START_RETRY_BASE_SECONDS = 1.0
START_RETRY_CAP_SECONDS = 30.0


@contextlib.asynccontextmanager
async def open_backends_patiently(
    settings: Settings, *, name: str, stop: asyncio.Event
) -> AsyncIterator[Backends | None]:
    """:func:`open_backends`, tried again while a dependency is unreachable at start.

    A process started before its NATS (or catalog, or store) waits 1 s, 2 s, 4 s ... 30 s
    between tries, logging each, as a supervisor would restart it - instead of exiting.
    Yields ``None`` when ``stop`` is set before the backends could be opened.
    """
    async with contextlib.AsyncExitStack() as stack:
        yield await _first_open(stack, settings, name, stop)


async def _first_open(
    stack: contextlib.AsyncExitStack, settings: Settings, name: str, stop: asyncio.Event
) -> Backends | None:
    delay = START_RETRY_BASE_SECONDS
    attempt = 1
    while not stop.is_set():
        try:
            opening = open_backends(settings, name=name, wait_for_bus=False)
            return await stack.enter_async_context(opening)
        except DependencyError as exc:
            log.warning(
                "backends not reachable at start (%s); retrying in %.0fs (attempt %d)",
                exc,
                delay,
                attempt,
            )
        await wait_or_stop(stop, delay)
        delay = min(delay * 2, START_RETRY_CAP_SECONDS)
        attempt += 1
    return None


def ingest_service(backends: Backends, settings: Settings) -> IngestService:
    return IngestService(backends.catalog, backends.store, backends.bus, settings.limits)


def delete_service(backends: Backends) -> DeleteService:
    return DeleteService(backends.catalog, backends.store, backends.bus)


def cleanup_service(backends: Backends) -> CleanupService:
    return CleanupService(backends.store)


def reconcile_service(
    backends: Backends, settings: Settings, progress: Progress = lambda walked, total: None
) -> ReconcileService:
    return ReconcileService(
        backends.catalog.scan,
        backends.catalog.uploads,
        backends.store,
        backends.bus,
        settings.reconcile,
        progress=progress,
    )


def album_service(backends: Backends, settings: Settings) -> AlbumService:
    return AlbumService(backends.catalog.albums, backends.bus, sweeper=settings.sweeper)


def image_queries(backends: Backends) -> ImageQueries:
    """The read side of images and their bytes, as a principal may see them."""
    return ImageQueries(backends.catalog, backends.catalog.albums, backends.store)


def share_service(backends: Backends, settings: Settings) -> ShareService:
    """Share links; revocations travel on the key revocation subject (same caches)."""
    catalog = backends.catalog
    return ShareService(
        catalog.shares,
        catalog,
        catalog.albums,
        catalog.usage,
        backends.bus,
        settings=settings.share,
    )


def key_service(backends: Backends) -> KeyService:
    return KeyService(backends.catalog.keys, backends.bus)


def event_feed(backends: Backends, settings: Settings) -> EventFeed:
    """Live events for ``/v1/events``, replayed from the events stream on reconnect."""
    return EventFeed(backends.bus.events, queue_size=settings.gateway.event_queue_size)


@contextlib.asynccontextmanager
async def render_service(
    backends: Backends, settings: Settings, spec: Sequence[RenditionSpec], *, slots: int
) -> AsyncIterator[RenderService]:
    """The render service over ``slots`` render processes (:class:`ProcessRenderer`): a
    decode that overruns ``render_timeout_seconds`` is killed with its process, and one that
    crashes its process costs that process, not the worker. Originals are streamed into the
    bounded spool (``GALLERY_WORKER_SPOOL_*``), never held in memory."""
    worker = settings.worker
    renderer = ProcessRenderer(
        spec,
        settings.limits,
        store_gps=worker.store_gps,
        slots=slots,
        sandbox=SandboxLimits(
            memory_bytes=worker.render_memory_bytes,
            cpu_seconds=worker.render_cpu_seconds,
            lifetime_cpu_seconds=worker.render_process_cpu_seconds,
        ),
        pass_env=[n.strip() for n in worker.render_env_pass.split(",") if n.strip()],
        video=VideoSpec.from_spec(parse_video_spec(settings.renditions)),
    )
    spool = Spool(Path(worker.spool_dir) if worker.spool_dir else None, worker.spool_bytes)
    spool.sweep()
    async with renderer:
        yield RenderService(
            backends.catalog,
            backends.store,
            backends.bus,
            renderer,
            policy=render_policy(settings),
            spool=spool,
        )


def render_policy(settings: Settings) -> RenderPolicy:
    """The lifecycle limits of docs/architecture.md step 5, from the settings."""
    return RenderPolicy(
        max_deliver=settings.nats.max_deliver,
        lease=lease_for(settings.nats.ack_wait_seconds),
        max_crashes=settings.worker.max_crashes,
        max_rounds=settings.worker.max_rounds,
        worker=worker_identity(),
        share_of=lambda tenant: settings.jobs.tenant_queued * settings.jobs.weight(tenant),
        video_timeout=settings.jobs.video_timeout_seconds,
        video_hashes=video_hashes(VideoSpec.from_spec(parse_video_spec(settings.renditions))),
    )


def upload_service(backends: Backends, settings: Settings) -> UploadService:
    """Resumable uploads, finishing through the same ingest service as plain uploads."""
    return UploadService(
        backends.catalog.uploads,
        backends.store,
        ingest_service(backends, settings),
        settings.limits,
        settings.tus,
        albums=album_service(backends, settings),
        quota=TenantQuota(backends.catalog.usage, settings.quota),
    )


def upload_limits(backends: Backends, settings: Settings) -> UploadLimits:
    return UploadLimits(backends.catalog.usage, settings.quota)
