"""Per-key rates (429 + Retry-After) and the tenant's quota (403).

Rates: uploads started, tus PATCHes and body bytes, per API key and minute. Checked when a
request starts, before a byte is stored; a chunked body (no ``Content-Length``) counts its
bytes once received, so the key's next request sees them. The counters live in the catalog,
so every gateway replica enforces the same limit: a fixed one-minute window per key and
counter (simple and shared; a burst of twice the rate across a window boundary is
possible, which is fine for a guard against runaway clients). The quota is
:mod:`pipeline.services.quota`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.domain.errors import RateLimited
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.ports import UsageCatalog
from pipeline.services.quota import TenantQuota

WINDOW_SECONDS = 60


class UploadLimits:
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
        self.quota = TenantQuota(usage, settings, clock=clock)

    async def admit(self, tenant: str, key_id: str, incoming_bytes: int | None) -> None:
        """Count one upload of ``key_id``; raise RateLimited, or QuotaExceeded (``quota`` =
        ``images`` or ``bytes``) when ``incoming_bytes`` (the upload's size when known)
        would not fit the tenant's quota now. Body bytes: :meth:`count_bytes`."""
        await self._count(key_id, "uploads", 1, self._settings.uploads_per_minute)
        await self.quota.check(tenant, incoming_bytes or 0)

    async def admit_patch(self, key_id: str, declared_bytes: int | None) -> None:
        """Count one tus PATCH (or creation body) and its declared bytes; raise RateLimited."""
        await self._count(key_id, "patches", 1, self._settings.patches_per_minute)
        await self.count_bytes(key_id, declared_bytes)

    async def admit_album(self, tenant: str) -> None:
        """Count one album creation of ``tenant`` (all its keys together); RateLimited."""
        await self._count(f"tenant:{tenant}", "albums", 1, self._settings.albums_per_minute)

    async def count_bytes(self, key_id: str, amount: int | None) -> None:
        """Add ``amount`` body bytes to the key's minute; RateLimited when over the rate."""
        if amount:
            await self._count(key_id, "bytes", amount, self._settings.bytes_per_minute)

    async def _count(self, key_id: str, counter: str, amount: int, limit: int) -> None:
        if limit == 0:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        window_end = (window + 1) * WINDOW_SECONDS
        expires = datetime.fromtimestamp(window_end + WINDOW_SECONDS, UTC)
        name = key_id if counter == "uploads" else f"{key_id}:{counter}"
        count = await self._usage.count_upload(name, window, expires, amount)
        if count > limit:
            raise RateLimited(
                f"{count} {counter} in this minute, limit {limit}",
                public_message=f"at most {limit} {_UNITS[counter]} a minute per "
                + ("tenant" if counter == "albums" else "API key"),
                retry_after_seconds=max(1, math.ceil(window_end - now)),
            )


_UNITS = {
    "uploads": "uploads",
    "patches": "PATCH requests",
    "bytes": "body bytes",
    "albums": "new albums",
}
