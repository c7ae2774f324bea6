"""Periodic tasks of every worker process.

The outbox sweeper republishes jobs of images stuck in ``queued`` every ``interval_seconds``
(the rule lives in :mod:`pipeline.services.outbox`) and takes deleted albums off their images
(:func:`pipeline.services.albums.finish_album_deletes`); the upload sweeper removes expired
resumable uploads and what they stored (:meth:`pipeline.services.tus.UploadService.expire`).
"""

from __future__ import annotations

import asyncio
import logging

from pipeline.domain.errors import DependencyError
from pipeline.runtime.process import wait_or_stop
from pipeline.runtime.settings import SweeperSettings, TusSettings
from pipeline.services.albums import finish_album_deletes
from pipeline.services.outbox import republish_stuck
from pipeline.services.ports import Albums, Bus, Catalog
from pipeline.services.tus import UploadService

log = logging.getLogger(__name__)


async def run_sweeper(
    bus: Bus, catalog: Catalog, albums: Albums, settings: SweeperSettings, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await republish_stuck(bus, catalog, settings)
            await finish_album_deletes(albums, settings)
        except DependencyError as exc:
            log.warning("outbox sweep failed, will retry: %s", exc)
        await wait_or_stop(stop, settings.interval_seconds)


async def run_upload_sweeper(
    uploads: UploadService, settings: TusSettings, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await uploads.expire()
        except DependencyError as exc:
            log.warning("expired-upload sweep failed, will retry: %s", exc)
        await wait_or_stop(stop, settings.sweep_interval_seconds)
