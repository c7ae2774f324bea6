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

    async def admit(
        self, tenant: str, key_id: str, incoming_bytes: int | None, *, body_bytes: int | None = None
    ) -> None:
        """Count one upload of ``key_id`` and its ``body_bytes`` (one catalog write); raise
        RateLimited, or QuotaExceeded (``quota`` = ``images`` or ``bytes``) when
        ``incoming_bytes`` (the upload's size when known) would not fit the tenant's quota now.
        """
        await self._count(key_id, {"uploads": 1, "bytes": body_bytes or 0})
        await self.quota.check(tenant, incoming_bytes or 0)

    async def admit_patch(self, key_id: str, declared_bytes: int | None) -> None:
        """Count one tus PATCH (or creation body) and its declared bytes; raise RateLimited."""
        await self._count(key_id, {"patches": 1, "bytes": declared_bytes or 0})

    async def admit_album(self, tenant: str) -> None:
        """Count one album creation of ``tenant`` (all its keys together); RateLimited."""
        await self._count(f"tenant:{tenant}", {"albums": 1})

    async def count_bytes(self, key_id: str, amount: int | None) -> None:
        """Add ``amount`` body bytes to the key's minute (a chunked body, once received)."""
        if amount:
            await self._count(key_id, {"bytes": amount})

    async def _count(self, counter: str, amounts: dict[str, int]) -> None:
        """Add ``amounts`` to ``counter``'s minute; RateLimited naming the first over its limit."""
        limits = {
            "uploads": self._settings.uploads_per_minute,
            "patches": self._settings.patches_per_minute,
            "bytes": self._settings.bytes_per_minute,
            "albums": self._settings.albums_per_minute,
        }
        counted = {name: n for name, n in amounts.items() if limits[name] and n}
        if not counted:
            return
        now = self._clock()
        window = int(now // WINDOW_SECONDS)
        window_end = (window + 1) * WINDOW_SECONDS
        expires = datetime.fromtimestamp(window_end + WINDOW_SECONDS, UTC)
        counts = await self._usage.count(counter, window, expires, counted)
        for name, count in counts.items():
            if count > limits[name]:
                per = "tenant" if name == "albums" else "API key"
                raise RateLimited(
                    f"{count} {name} in this minute, limit {limits[name]}",
                    public_message=f"at most {limits[name]} {_UNITS[name]} a minute per {per}",
                    retry_after_seconds=max(1, math.ceil(window_end - now)),
                )


_UNITS = {
    "uploads": "uploads",
    "patches": "PATCH requests",
    "bytes": "body bytes",
    "albums": "new albums",
}
