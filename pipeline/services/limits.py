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

from pipeline.domain.access import Principal
from pipeline.domain.errors import RateLimited
from pipeline.domain.usage import Usage
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.access import AccessPolicy
from pipeline.services.ports import UsageCatalog
from pipeline.services.quota import TenantQuota

WINDOW_SECONDS = 60


async def check_rate(
    usage: UsageCatalog, counter: str, limit: int, now: float, public_message: str
) -> None:
    """Count one more in ``counter``'s current minute window (shared by every replica);
    RateLimited (429, ``Retry-After`` = the rest of the window) above ``limit``, 0 = none."""
    if limit == 0:
        return
    window = int(now // WINDOW_SECONDS)
    window_end = (window + 1) * WINDOW_SECONDS
    expires = datetime.fromtimestamp(window_end + WINDOW_SECONDS, UTC)
    count = (await usage.count(counter, window, expires, {"requests": 1}))["requests"]
    if count > limit:
        raise RateLimited(
            f"{counter}: {count} in this minute, limit {limit}",
            public_message=public_message,
            retry_after_seconds=max(1, math.ceil(window_end - now)),
        )


class UploadLimits:
    def __init__(
        self,
        usage: UsageCatalog,
        settings: QuotaSettings,
        *,
        clock: Callable[[], float] = time.time,
        policy: AccessPolicy | None = None,
    ) -> None:
        self._policy = policy or AccessPolicy()
        self._usage = usage
        self._settings = settings
        self._clock = clock
        self.quota = TenantQuota(usage, settings, clock=clock)

    async def admit(
        self, who: Principal, incoming_bytes: int | None, *, body_bytes: int | None = None
    ) -> str:
        """Count one upload of ``who`` (its key) and its ``body_bytes`` (one catalog write);
        the tenant it uploads to. Raises Forbidden without the ``upload`` scope, RateLimited,
        or QuotaExceeded (``quota`` = ``images`` or ``bytes``) when ``incoming_bytes`` (the
        upload's size when known) would not fit the tenant's quota now."""
        tenant = self._policy.tenant(who, "upload")
        await self._count(who.id, {"uploads": 1, "bytes": body_bytes or 0})
        await self.quota.check(tenant, incoming_bytes or 0)
        return tenant

    async def usage(self, who: Principal) -> Usage:
        """What ``who``'s tenant stores, in the gallery and in the trash, and its limits;
        Forbidden without the ``read`` scope."""
        gallery, trash = await self._usage.stored(self._policy.tenant(who, "read"))
        quota = self._settings
        return Usage(gallery, trash, quota.max_images, quota.max_bytes, quota.uploads_per_minute)

    def check_scope(self, who: Principal) -> None:
        """Forbidden (403) unless ``who`` may upload: the early answer to ``Expect:
        100-continue``, which counts nothing."""
        self._policy.tenant(who, "upload")

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
