"""Process lifecycle: logging, stop signals, and the backends every process opens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pipeline.bus import Bus
from pipeline.catalog import Catalog
from pipeline.ops import ReadinessCheck
from pipeline.settings import Settings
from pipeline.storage import open_object_store
from pipeline.storage.base import ObjectStore

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    # libvips reports every threadpool at INFO; that is noise at any level but DEBUG.
    logging.getLogger("pyvips").setLevel(max(logging.WARNING, logging.getLevelName(level)))


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set ``stop`` on SIGTERM or SIGINT so the process drains instead of dying mid-job."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


@dataclass(frozen=True)
class Backends:
    bus: Bus
    catalog: Catalog
    store: ObjectStore

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        """What ``/readyz`` asks: each backend answers, or names itself as the failure."""
        return {"bus": self.bus.check, "catalog": self.catalog.ping, "storage": self.store.check}


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, waking at once when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


@contextlib.asynccontextmanager
async def open_backends(settings: Settings, *, name: str) -> AsyncIterator[Backends]:
    """Connect to bus, catalog and store, declare what the pipeline needs, and close all on exit."""
    async with contextlib.AsyncExitStack() as stack:
        bus = await stack.enter_async_context(Bus.connect(settings.nats, name=name))
        catalog = await stack.enter_async_context(Catalog.connect(settings.mongo))
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
