"""The lease a render holds on its image, renewed while the render runs.

``claim`` takes the lease for ``lease_seconds``; :class:`HeldLease` renews it every third of
that while the job works, so a live worker never loses it and a dead one loses it within
``lease_seconds``. The lease is shorter than JetStream's ``ack_wait`` (two thirds of it), so
when JetStream redelivers the job of a worker that died, the lease has expired and the next
claim takes it over (and counts the crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from types import TracebackType

from pipeline.domain.errors import DependencyError
from pipeline.domain.models import ImageRecord
from pipeline.services.ports import Catalog

log = logging.getLogger(__name__)

LEASE_SHARE_OF_ACK_WAIT = 2 / 3


def lease_for(ack_wait_seconds: float) -> timedelta:
    """The lease of one claim: two thirds of JetStream's ``ack_wait`` (see module doc)."""
    return timedelta(seconds=ack_wait_seconds * LEASE_SHARE_OF_ACK_WAIT)


class HeldLease:
    """Renews ``owner``'s lease on ``record`` in the background (an async context manager).

    ``lost`` turns True when a renewal finds the lease taken over; a catalog outage is logged
    and the next renewal tries again.
    """

    def __init__(self, catalog: Catalog, record: ImageRecord, owner: str, lease: timedelta):
        self._catalog = catalog
        self._record = record
        self.owner = owner
        self._lease = lease
        self.lost = False
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()

    async def __aenter__(self) -> HeldLease:
        self._task = asyncio.create_task(self._renew_forever())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._done.set()
            self._task.cancel()
            # Not `await self._task`: a driver call can swallow the cancellation (seen with
            # PyMongo's async client mid-outage, turned into a connection error), and the job
            # then waited on its renewer forever. The loop also ends on _done, within a renewal.
            await asyncio.wait({self._task}, timeout=self._lease.total_seconds())
        if kind is not None and issubclass(kind, asyncio.CancelledError):
            # Drain gave up on this render and hands the job back: hand the lease back too,
            # or the next worker would wait for it to lapse and count a crash.
            with contextlib.suppress(DependencyError):
                await self._catalog.release(
                    self._record.tenant,
                    self._record.id,
                    owner=self.owner,
                    error="interrupted: the worker stopped before the render finished",
                )

    async def _renew_forever(self) -> None:
        every = self._lease.total_seconds() / 3
        record = self._record
        while not self._done.is_set():
            await asyncio.sleep(every)
            if self._done.is_set():
                return
            try:
                held = await self._catalog.renew(
                    record.tenant, record.id, owner=self.owner, lease=self._lease
                )
            except DependencyError as exc:
                log.warning("cannot renew the lease on %s: %s", record.id, exc)
                continue
            if not held:
                log.warning("lease on %s was taken over; the other holder finishes it", record.id)
                self.lost = True
                return
