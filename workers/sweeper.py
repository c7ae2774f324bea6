"""The outbox sweeper: every ``interval_seconds``, republish jobs of images stuck in ``queued``.

The rule lives in :mod:`pipeline.services.outbox`; this is the periodic task around it.
"""

from __future__ import annotations

import asyncio
import logging

from pipeline.domain.errors import DependencyError
from pipeline.runtime.process import wait_or_stop
from pipeline.runtime.settings import SweeperSettings
from pipeline.services.outbox import republish_stuck
from pipeline.services.ports import Bus, Catalog

log = logging.getLogger(__name__)


async def run_sweeper(
    bus: Bus, catalog: Catalog, settings: SweeperSettings, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await republish_stuck(bus, catalog, settings)
        except DependencyError as exc:
            log.warning("outbox sweep failed, will retry: %s", exc)
        await wait_or_stop(stop, settings.interval_seconds)
