"""Leases a worker could not hand back while the catalog was down, handed back once it answers.

A render that fails on a dependency gives its lease back, so the job's next delivery claims
the image at once. When that release fails too (the catalog is the dependency that is down),
the lease would lapse and the next claim would take it over and count a crash that never
happened: three such outages during one photo's retries would fail a good photo with "render
crashed the worker 3 times". The worker remembers each such lease and hands it back as soon
as the catalog answers: before its next job (:meth:`PendingHandbacks.flush`) and every
second in the background while any is pending (:meth:`PendingHandbacks.run`).

A release names its owner, so handing back a lease that another worker has taken over in the
meantime changes nothing. Pending hand-backs live in the worker's memory: a worker that dies
loses them, and the takeover then counts a crash, which is what a dead worker is.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pipeline.domain.errors import DependencyError
from pipeline.runtime.process import wait_or_stop
from pipeline.services.ports import Catalog

log = logging.getLogger(__name__)
FLUSH_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class Handback:
    """One lease to give back: ``catalog.release``'s arguments."""

    tenant: str
    image_id: str
    owner: str
    error: str
    crashed: bool = False


class PendingHandbacks:
    """``release`` in place of ``catalog.release``; what fails is retried until it succeeds."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._pending: dict[tuple[str, str], Handback] = {}

    def __len__(self) -> int:
        return len(self._pending)

    async def release(self, handback: Handback) -> None:
        """Give the lease back. Raises the catalog's DependencyError, and keeps the hand-back
        pending, when the catalog cannot take it now."""
        try:
            await self._send(handback)
        except DependencyError:
            self.remember(handback)
            raise

    def remember(self, handback: Handback) -> None:
        """Hand this lease back once the catalog answers (another write on it just failed)."""
        self._pending[(handback.tenant, handback.image_id)] = handback
        log.warning(
            "cannot hand back the lease on %s now; handing it back once the catalog answers",
            handback.image_id,
        )

    async def flush(self) -> int:
        """Hand back what is pending, oldest first; stop at the first DependencyError (the
        catalog is still away). Returns how many were handed back."""
        done = 0
        for key, handback in list(self._pending.items()):
            try:
                await self._send(handback)
            except DependencyError:
                break
            if self._pending.get(key) is handback:  # not replaced by a newer one meanwhile
                del self._pending[key]
            done += 1
        if done:
            log.info("handed back %d lease(s) after the catalog came back", done)
        return done

    async def run(self, stop: asyncio.Event, every: float = FLUSH_EVERY_SECONDS) -> None:
        """Flush every ``every`` seconds while anything is pending, until ``stop``."""
        while not stop.is_set():
            await wait_or_stop(stop, every)
            if self._pending and not stop.is_set():
                await self.flush()

    async def _send(self, handback: Handback) -> None:
        await self._catalog.release(
            handback.tenant,
            handback.image_id,
            owner=handback.owner,
            error=handback.error,
            crashed=handback.crashed,
        )
