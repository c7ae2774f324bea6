"""Periodic tasks of every worker process.

The outbox sweeper republishes jobs of images stuck in ``queued`` every ``interval_seconds``
(the rule lives in :mod:`pipeline.services.outbox`) and takes deleted albums off their images
(:func:`pipeline.services.albums.finish_album_deletes`); the upload sweeper removes expired
resumable uploads and what they stored (:meth:`pipeline.services.tus.UploadService.expire`);
the trash sweeper deletes for good what has been in the trash longer than its retention
(:meth:`pipeline.services.delete.DeleteService.purge_expired`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Protocol

from pipeline.domain.errors import DependencyError
from pipeline.runtime.process import wait_or_stop
from pipeline.runtime.settings import SweeperSettings, TrashSettings, TusSettings
from pipeline.services.albums import finish_album_deletes
from pipeline.services.delete import DeleteService
from pipeline.services.outbox import republish_stuck
from pipeline.services.ports import Albums, Bus, Catalog
from pipeline.services.tus import UploadService

log = logging.getLogger(__name__)
PURGE_BATCH = 500


class SweptCatalog(Catalog, Protocol):
    """The catalog as the outbox sweeper sees it: images, and the albums being deleted."""

    @property
    def albums(self) -> Albums: ...


async def run_sweeper(
    bus: Bus, catalog: SweptCatalog, settings: SweeperSettings, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        try:
            await republish_stuck(bus, catalog, settings)
            await finish_album_deletes(catalog.albums, settings)
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


async def run_trash_sweeper(
    deletes: DeleteService, settings: TrashSettings, stop: asyncio.Event
) -> None:
    retention = timedelta(days=settings.retention_days)
    while not stop.is_set():
        try:
            # A full batch means more may be due: go on now rather than after the interval.
            purged = PURGE_BATCH
            while purged == PURGE_BATCH and not stop.is_set():
                purged = await deletes.purge_expired(retention, limit=PURGE_BATCH)
        except DependencyError as exc:
            log.warning("trash purge failed, will retry: %s", exc)
        await wait_or_stop(stop, settings.sweep_interval_seconds)
