"""Per-key upload limits: a rate (429 + Retry-After) and an optional tenant quota (403).

Checked when an upload starts (``POST /v1/images``, tus creation), before a byte is stored.
The counters live in the catalog, so every gateway replica enforces the same limit.
Rate: a fixed one-minute window per API key (simple and shared; a burst of twice the rate
across a window boundary is possible, which is fine for a guard against runaway clients).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pipeline.domain.access import Principal
from pipeline.domain.errors import QuotaExceeded, RateLimited
from pipeline.domain.usage import Usage
from pipeline.runtime.settings import QuotaSettings
from pipeline.services.access import AccessPolicy
from pipeline.services.ports import UsageCatalog

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
    count = await usage.count_upload(counter, window, expires)
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

    async def admit(self, who: Principal, incoming_bytes: int | None) -> str:
        """Count one upload of ``who``; the tenant it uploads to. Raises Forbidden without
        the ``upload`` scope, RateLimited, or QuotaExceeded (``quota`` = ``images`` or
        ``bytes``). ``incoming_bytes`` is the upload's size when known."""
        tenant = self._policy.tenant(who, "upload")
        await self._check_rate(who.id)
        await self._check_quota(tenant, incoming_bytes or 0)
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

    async def _check_rate(self, key_id: str) -> None:
        limit = self._settings.uploads_per_minute
        message = f"at most {limit} uploads a minute per API key"
        await check_rate(self._usage, key_id, limit, self._clock(), message)

    async def _check_quota(self, tenant: str, incoming: int) -> None:
        max_images, max_bytes = self._settings.max_images, self._settings.max_bytes
        if max_images == 0 and max_bytes == 0:
            return
        images, stored = await self._usage.tenant_usage(tenant)
        if max_images and images + 1 > max_images:
            raise QuotaExceeded(
                "images", public_message=f"quota of {max_images} images reached (images)"
            )
        if max_bytes and stored + incoming > max_bytes:
            raise QuotaExceeded(
                "bytes",
                public_message=f"quota of {max_bytes} bytes would be exceeded (bytes: "
                f"{stored} stored, {incoming} more)",
            )
