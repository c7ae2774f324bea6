"""Leases a worker could not hand back while the catalog was down, handed back once it answers.

A render that fails on a dependency gives its lease back, so the job's next delivery claims
the image at once. When that release fails too (the catalog is the dependency that is down),
the lease would lapse and the next claim would take it over and count a crash that never
happened: three such outages during one photo's retries would fail a good photo with "render
crashed the worker 3 times". The worker remembers each such lease and hands it back as soon
as the catalog answers: before its next job (:meth:`PendingHandbacks.flush`) and every
second in the background while any is pending (:meth:`PendingHandbacks.run`).

The same for a claim that timed out: a frozen catalog reads the request from its socket
buffer after the thaw and applies it, leaving a lease that no job holds. The worker hands
such a lease back if it appears within ``CLAIM_LINGER`` of the catalog answering again.

A release names its owner, so handing back a lease that another worker has taken over in the
meantime, or that was never taken, changes nothing. Pending hand-backs live in the worker's
memory: a worker that dies loses them, and the takeover then counts a crash, which is what a
dead worker is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from pipeline.domain.errors import DependencyError
from pipeline.runtime.process import wait_or_stop
from pipeline.services.ports import Catalog

log = logging.getLogger(__name__)
FLUSH_EVERY_SECONDS = 1.0
# A timed-out claim that a thawed catalog applies does so within moments of the thaw.
CLAIM_LINGER = timedelta(seconds=10)
MAX_LINGERING = 256


@dataclass(frozen=True)
class Handback:
    """One lease to give back: ``catalog.release``'s arguments.

    ``linger`` is for a claim that timed out: the catalog may not have applied it yet (a
    frozen catalog reads the request from its socket buffer after the thaw), so a release
    that finds no such lease is tried again for ``linger`` after the catalog first answers.
    """

    tenant: str
    image_id: str
    owner: str
    error: str
    crashed: bool = False
    linger: timedelta | None = None


class PendingHandbacks:
    """``release`` in place of ``catalog.release``; what fails is retried until it succeeds."""

    def __init__(self, catalog: Catalog, clock: Callable[[], float] = time.monotonic) -> None:
        self._catalog = catalog
        self._clock = clock
        # Keyed by owner too: one image can have several timed-out claims of this worker.
        self._pending: dict[tuple[str, str, str], Handback] = {}
        self._give_up_at: dict[tuple[str, str, str], float] = {}  # lingering ones, once answered

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
        """Hand this lease back once the catalog answers (a write on it just failed).

        Lingering hand-backs (timed-out claims) are capped at MAX_LINGERING, oldest dropped:
        a long outage makes one per delivery attempt, and each costs a query after it."""
        self._pending[(handback.tenant, handback.image_id, handback.owner)] = handback
        if handback.linger is None:
            log.warning(
                "cannot hand back the lease on %s now; handing it back once the catalog answers",
                handback.image_id,
            )
            return
        lingering = [key for key, pending in self._pending.items() if pending.linger is not None]
        for key in lingering[: max(len(lingering) - MAX_LINGERING, 0)]:
            del self._pending[key]
            self._give_up_at.pop(key, None)

    async def flush(self) -> int:
        """Hand back what is pending, oldest first; stop at the first DependencyError (the
        catalog is still away). Returns how many were handed back."""
        done = 0
        for key, handback in list(self._pending.items()):
            try:
                released = await self._send(handback)
            except DependencyError:
                break
            if not released and handback.linger is not None:
                give_up_at = self._give_up_at.setdefault(
                    key, self._clock() + handback.linger.total_seconds()
                )
                if self._clock() < give_up_at:
                    continue  # the timed-out claim may still be applied: look again
            self._pending.pop(key, None)
            self._give_up_at.pop(key, None)
            done += released
        if done:
            log.info("handed back %d lease(s) after the catalog came back", done)
        return done

    async def run(self, stop: asyncio.Event, every: float = FLUSH_EVERY_SECONDS) -> None:
        """Flush every ``every`` seconds while anything is pending, until ``stop``."""
        while not stop.is_set():
            await wait_or_stop(stop, every)
            if self._pending and not stop.is_set():
                await self.flush()

    async def _send(self, handback: Handback) -> bool:
        """True when the lease was there to give back."""
        released = await self._catalog.release(
            handback.tenant,
            handback.image_id,
            owner=handback.owner,
            error=handback.error,
            crashed=handback.crashed,
        )
        return released is not None
