"""The tenant's quota (403), held by reservations so that racing uploads cannot overshoot it.

An upload reserves its size and one image before a byte is stored: a POST for as long as it
runs (its declared ``Content-Length``), a resumable upload from creation (its
``Upload-Length``) until it completes, is terminated or expires (its absolute expiry). The
check and the reservation run under a per-tenant lock in the catalog, so two admissions of
one tenant on any replicas take turns: usage (stored images and bytes) plus live
reservations plus the new upload must fit. A completing upload's image is inserted while
its reservation still counts, so the quota holds at completion without a second check.
A chunked POST (no length) reserves one image and then its bytes as they arrive, in steps
of ``GALLERY_QUOTA_STREAM_RESERVE_BYTES`` (exactly what arrived near the quota's edge), each
step checked under the same lock: a body past the quota is refused mid-stream (403).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

from pipeline.domain.errors import GatewayBusy, QuotaExceeded
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.ports import UsageCatalog

#: Longest an admission holds the tenant's lock (a crashed holder's lock lapses after it).
LOCK_SECONDS = 10.0
#: Longest an admission waits for the lock before answering 503 (retry).
LOCK_WAIT_SECONDS = 5.0


class TenantQuota:
    def __init__(
        self,
        usage: UsageCatalog,
        settings: QuotaSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._usage = usage
        self._settings = settings
        self._clock = clock

    @property
    def stream_step(self) -> int:
        return self._settings.stream_reserve_bytes

    @property
    def enforced(self) -> bool:
        return bool(self._settings.max_images or self._settings.max_bytes)

    async def check(self, tenant: str, incoming: int) -> None:
        """QuotaExceeded if ``incoming`` more bytes and one image do not fit now (no hold)."""
        if self.enforced:
            await self._fits(tenant, incoming, tus=False)

    async def reserve(
        self, tenant: str, holder: str, size: int, *, tus: bool, seconds: float
    ) -> None:
        """Check and hold ``size`` bytes and one image for ``holder`` for ``seconds``, as one
        step per tenant. QuotaExceeded (``images``, ``bytes`` or ``open_uploads``)."""
        if not (tus or self.enforced):
            return
        async with self._tenant_lock(tenant):
            await self._fits(tenant, size, tus=tus)
            expires = self._now() + timedelta(seconds=seconds)
            await self._usage.reserve(tenant, holder, size, "tus" if tus else "post", expires)

    async def release(self, holder: str) -> None:
        """Drop ``holder``'s reservation (its image exists now, or it ended)."""
        await self._usage.release(holder)

    @contextlib.asynccontextmanager
    async def held(
        self, tenant: str, size: int, *, seconds: float
    ) -> AsyncIterator[PostReservation]:
        """A POST's reservation of ``size`` bytes and one image for the block (nothing is held
        when no quota is set); :meth:`PostReservation.cover` grows it as bytes arrive."""
        holder = "post-" + secrets.token_hex(8)
        reservation = PostReservation(self, tenant, holder, size, seconds)
        if not self.enforced:
            yield reservation
            return
        await self.reserve(tenant, holder, size, tus=False, seconds=seconds)
        try:
            yield reservation
        finally:
            await self.release(holder)

    async def grow(self, reservation: PostReservation, wanted: int, at_least: int) -> int:
        """Hold ``wanted`` bytes for ``reservation`` (or, if that does not fit, ``at_least``);
        returns what is held now. QuotaExceeded when not even ``at_least`` fits."""
        tenant = reservation.tenant
        async with self._tenant_lock(tenant):
            try:
                await self._fits(tenant, wanted - reservation.size, tus=False, new_image=False)
                size = wanted
            except QuotaExceeded:
                # Near the quota's edge: exactly what arrived, or the refusal.
                await self._fits(tenant, at_least - reservation.size, tus=False, new_image=False)
                size = at_least
            expires = self._now() + timedelta(seconds=reservation.seconds)
            await self._usage.reserve(tenant, reservation.holder, size, "post", expires)
            return size

    async def _fits(self, tenant: str, incoming: int, *, tus: bool, new_image: bool = True) -> None:
        settings = self._settings
        images, stored = await self._usage.tenant_usage(tenant)
        held_images, held_bytes, open_uploads = await self._usage.reserved(tenant, self._now())
        if tus and open_uploads >= settings.max_open_uploads:
            raise QuotaExceeded(
                "open_uploads",
                public_message=f"at most {settings.max_open_uploads} unfinished resumable "
                "uploads per tenant (open_uploads)",
            )
        if new_image and settings.max_images and images + held_images + 1 > settings.max_images:
            raise QuotaExceeded(
                "images",
                public_message=f"quota of {settings.max_images} images reached (images: "
                f"{images} stored, {held_images} uploading)",
            )
        if settings.max_bytes and stored + held_bytes + incoming > settings.max_bytes:
            raise QuotaExceeded(
                "bytes",
                public_message=f"quota of {settings.max_bytes} bytes would be exceeded (bytes: "
                f"{stored} stored, {held_bytes} uploading, {incoming} more)",
            )

    @contextlib.asynccontextmanager
    async def _tenant_lock(self, tenant: str) -> AsyncIterator[None]:
        token = secrets.token_hex(8)
        deadline = self._clock() + LOCK_WAIT_SECONDS
        while not await self._usage.lock_tenant(
            tenant, token, self._now() + timedelta(seconds=LOCK_SECONDS), self._now()
        ):
            if self._clock() > deadline:
                raise GatewayBusy(
                    "quota lock busy", public_message="too many uploads starting; retry shortly"
                )
            await asyncio.sleep(0.01)
        try:
            yield
        finally:
            await self._usage.unlock_tenant(tenant, token)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


class PostReservation:
    """What one POST holds against its tenant's quota while its body arrives."""

    def __init__(
        self, quota: TenantQuota, tenant: str, holder: str, size: int, seconds: float
    ) -> None:
        self.tenant = tenant
        self.holder = holder
        self.size = size
        self.seconds = seconds
        self._quota = quota

    async def cover(self, received: int) -> None:
        """Make sure the ``received`` bytes so far are held: a step more
        (``GALLERY_QUOTA_STREAM_RESERVE_BYTES``) when they pass what is held, or exactly
        ``received`` near the quota's edge. QuotaExceeded (403 ``bytes``) when they do not fit.
        """
        if received <= self.size or not self._quota.enforced:
            return
        step = self._quota.stream_step
        wanted = (received // step + 1) * step
        self.size = await self._quota.grow(self, wanted, received)
